// The live socket survives a drop: Playwright routes the page's websocket,
// cuts it, a notification is made meanwhile, and the page reconnects by
// itself and gets the notification over the new socket (catch-up from the
// last id it saw, the first frame's "since"), then shows the task.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { BASE, PASSWORD, api, newUser, teamOf } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('after its websocket drops, the page reconnects and catches up on what it missed', async () => {
  const a = await newUser('Ann Again');
  const b = await newUser('Ben Again');
  await teamOf(a, 'Again', b);
  const context = await browser.newContext();
  // every socket of the page goes through Playwright, which can cut it
  const routes = [];
  await context.routeWebSocket(/\/api\/v1\/notifications\/ws$/, (ws) => {
    routes.push({ ws, server: ws.connectToServer() });
  });
  const page = await context.newPage();
  try {
    await page.goto(BASE + '/');
    await page.getByLabel('Email').fill(b.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'To Do' }).waitFor();
    for (let i = 0; i < 50 && routes.length === 0; i++) await page.waitForTimeout(100);
    assert.equal(routes.length, 1);
    await routes[0].server.close();
    await routes[0].ws.close({ code: 4000, reason: 'dropped by the test' });
    await api('POST', '/api/v1/tasks', a.token, { title: 'Missed while away', assignee: { type: 'user', id: b.id } });
    // the notification itself comes over the new socket (catch-up from the last id seen)
    const frame = page.waitForEvent('websocket').then((ws) => ws.waitForEvent('framereceived', { predicate: (f) => String(f.payload).includes('Missed while away'), timeout: 8000 }));
    await frame;
    await page.locator('#status-line', { hasText: 'Missed while away' }).waitFor();
    await page.locator('.column[data-status="todo"] .task-card', { hasText: 'Missed while away' }).waitFor({ timeout: 5000 });
    assert.equal(routes.length, 2, 'one new socket');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
    await page.locator('#notif-list li.unread', { hasText: 'Missed while away' }).waitFor();
    assert.equal(await page.locator('#notif-list li', { hasText: 'Missed while away' }).count(), 1, 'shown once');
  } finally {
    await context.close();
  }
});
