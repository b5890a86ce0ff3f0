// Live updates across two browsers: user A assigns a task to user B, and B's
// page shows the task on the board and the notification without a reload,
// over the notification websocket opened by the page itself (same origin, no
// --cors-origins).  BASE_URL points at a running shim; the deploy suite runs
// this file against the compose deployment too, so it needs nothing but the
// HTTP API and the UI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { api, newUser, signedIn, teamOf } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const unread = (page) => page.evaluate(() => Number(document.querySelector('#notif-count')?.textContent ?? 0));

// The time it takes is printed, not asserted (a loaded machine is no
// regression); the unread count, which only the socket raises, proves that
// the update came live and not from the board's 20 s poll.
const LIVE_WAIT = 10_000;

test('an assignment by user A shows on user B\'s board live, with a notification, without a reload', async () => {
  const a = await newUser('Ann');
  const b = await newUser('Ben');
  await teamOf(a, 'Live', b);   // A owns a team with B in it, so A may assign to B
  const pa = await signedIn(browser, a);
  const pb = await signedIn(browser, b);
  try {
    for (let i = 0; i < 50 && pb.seen.sockets.length === 0; i++) await pb.page.waitForTimeout(100);
    await pb.page.waitForTimeout(500);   // a refused upgrade would have shown by now
    assert.ok(pb.seen.sockets.length >= 1, 'B\'s page opened a websocket');
    await pb.page.getByRole('heading', { name: 'To Do' }).waitFor();
    const before = await unread(pb.page);
    let navigations = 0;
    pb.page.on('framenavigated', (f) => { if (f === pb.page.mainFrame()) navigations++; });

    const title = `Review the live board ${Date.now()}`;
    const t0 = Date.now();
    await api('POST', '/api/v1/tasks', a.token, { title, assignee: { type: 'user', id: b.id } });
    await pb.page.waitForFunction((n) => Number(document.querySelector('#notif-count')?.textContent ?? 0) > n, before, { timeout: LIVE_WAIT });
    await pb.page.locator('.column[data-status="todo"] .task-card', { hasText: title }).waitFor({ timeout: LIVE_WAIT });
    const ms = Date.now() - t0;
    console.log(`# live update reached B's page in ${ms} ms`);
    assert.equal(navigations, 0, 'no reload happened');
    await pb.page.getByRole('link', { name: /Inbox/ }).click();
    await pb.page.locator('#notif-list li.unread', { hasText: /assign/i }).first().waitFor();

    // no socket was refused or dropped on either page
    for (const p of [pa, pb]) {
      assert.deepEqual(p.seen.errors, []);
      assert.equal(p.seen.sockets.length, 1, `one socket, not retries: ${JSON.stringify(p.seen.sockets)}`);
      assert.equal(p.seen.sockets[0].closed, false);
    }
  } finally {
    await pa.context.close();
    await pb.context.close();
  }
});
