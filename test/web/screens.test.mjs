// Every screen, on a desktop in light and dark mode and on a phone
// (390×844): it renders its content, axe-core finds no serious or critical
// violation, and a screenshot is kept under $WEB_OUT/screens.  Also the
// first load: navigation timing and the time until the UI is interactive
// ($WEB_OUT/first-load.json, reported in bench/README.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './browser.mjs';
import { BASE, OUT, api, newUser, scan, shot, signedIn, teamOf } from './helpers.mjs';

let browser, ann, ben, team, task;

before(async () => {
  browser = await launch();
  ann = await newUser('Ann Screens');
  ben = await newUser('Ben Screens');
  team = await teamOf(ann, 'Screens', ben);
  task = await api('POST', '/api/v1/tasks', ann.token, {
    title: 'Prepare the quarterly review', description: 'Collect the figures & write the summary <draft>',
    priority: 'high', due_date: '2030-03-01', tags: ['review', 'q1'], team_id: team.id,
    assignee: { type: 'user', id: ben.id },
  });
  await api('POST', '/api/v1/tasks', ann.token, { title: 'Book the meeting room', priority: 'low' });
  const t3 = await api('POST', '/api/v1/tasks', ann.token, { title: 'Send the agenda', status: 'in_progress' });
  await api('PATCH', `/api/v1/tasks/${t3.id}`, ann.token, { status: 'done' });
  // planning: a subtask, a blocker, a rule; a token and a saved view for the profile and the views dialog
  await api('POST', '/api/v1/tasks', ann.token, { title: 'Collect the figures', parent_id: task.id, team_id: team.id, status: 'done' });
  await api('POST', '/api/v1/tasks', ann.token, { title: 'Draft the slides', parent_id: task.id, team_id: team.id });
  const blocker = await api('POST', '/api/v1/tasks', ann.token, { title: 'Close the books', team_id: team.id });
  await api('POST', `/api/v1/tasks/${task.id}/relations`, ann.token, { type: 'blocked_by', task_id: blocker.id });
  await api('PATCH', `/api/v1/tasks/${task.id}`, ann.token, { recurrence: 'FREQ=MONTHLY;BYMONTHDAY=1' });
  await api('POST', '/api/v1/me/tokens', ben.token, { name: 'calendar', scopes: ['read'], expires_in_days: 90 });
  await api('POST', '/api/v1/views', ben.token, { name: 'Mine, urgent first', filter: { assignee: 'me', sort: '-priority', filter: 'is:open' } });
  const c = await api('POST', `/api/v1/tasks/${task.id}/comments`, ben.token, { body: `Figures are in, @${ann.email} please check` });
  await api('POST', `/api/v1/tasks/${task.id}/comments`, ann.token, { body: 'Thanks, looks good', parent_id: c.id });
});
after(async () => { await browser?.close(); });

const screens = [
  ['board', '/', async (p) => p.getByRole('heading', { name: 'In Progress' }).waitFor()],
  ['list', '/?view=list', async (p) => p.locator('#tasks').waitFor()],
  ['search', '/?view=list&q=quarterly', async (p) => p.locator('.snippet mark').first().waitFor()],
  ['task', () => `/?task=${task.id}`, async (p) => {
    await p.locator('#comments li').nth(1).waitFor();
    await p.locator('#subtask-list li').nth(1).waitFor();
    await p.locator('#relation-list li').first().waitFor();
  }],
  ['teams', '/?view=teams', async (p) => p.getByRole('table').waitFor()],
  ['inbox', '/?view=inbox', async (p) => p.locator('#notif-list li').first().waitFor()],
  ['profile', '/?view=profile', async (p) => p.locator('#token-list tr', { hasText: 'calendar' }).waitFor()],
];

for (const [label, opts] of [
  ['desktop', { viewport: { width: 1280, height: 860 } }],
  ['dark', { viewport: { width: 1280, height: 860 }, colorScheme: 'dark' }],
  ['phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }],
]) {
  test(`every screen on ${label}: content, no serious accessibility violation, screenshot`, async () => {
    const ctx = await browser.newContext(opts);
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) errors.push(m.text()); });
    const first = await page.goto(BASE + '/');
    // same-origin policy on the page; the UI runs under it without a violation
    assert.match(first.headers()['content-security-policy'], /default-src 'self'/);
    assert.doesNotMatch(first.headers()['content-security-policy'], /unsafe-inline|unsafe-eval/);
    await page.getByRole('heading', { name: 'Sign in to taskmgmt' }).waitFor();
    await scan(page, `${label} sign-in`);
    await shot(page, `${label}-sign-in`);
    await page.getByRole('button', { name: 'Create an account' }).click();
    await scan(page, `${label} register`);
    await shot(page, `${label}-register`);
    await page.getByRole('button', { name: 'Sign in instead' }).click();
    await page.getByLabel('Email').fill(ben.email);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who').waitFor({ state: 'attached' });
    for (const [name, url, ready] of screens) {
      await page.goto(BASE + (typeof url === 'function' ? url() : url));
      await ready(page);
      await scan(page, `${label} ${name}`);
      await shot(page, `${label}-${name}`);
      if (label === 'phone') {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= 390, `${name}: the page is ${wide}px wide on a 390px phone`);
      }
    }
    await page.keyboard.press('c');
    await page.getByRole('dialog', { name: 'New task' }).waitFor();
    await scan(page, `${label} create dialog`);
    await shot(page, `${label}-create`);
    await page.keyboard.press('Escape');
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await scan(page, `${label} help dialog`);
    await shot(page, `${label}-help`);
    await page.keyboard.press('Escape');
    await page.keyboard.press('b');
    await page.getByRole('heading', { name: 'In Progress' }).waitFor();
    await page.keyboard.press('v');
    await page.getByRole('dialog', { name: 'Saved views' }).getByRole('link', { name: 'Mine, urgent first' }).waitFor();
    await scan(page, `${label} saved views dialog`);
    await shot(page, `${label}-views`);
    assert.deepEqual(errors, []);
    await ctx.close();
  });
}

test('first load: navigation timing and time to interactive', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const runs = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(BASE + '/?fresh=' + i, { waitUntil: 'load' });
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    runs.push(await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const ready = performance.getEntriesByName('taskmgmt:interactive')[0];
      const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || 0), nav.transferSize || 0);
      return {
        dom_interactive_ms: Math.round(nav.domInteractive),
        dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
        load_ms: Math.round(nav.loadEventEnd),
        interactive_ms: ready ? Math.round(ready.startTime) : null,
        transfer_bytes: bytes,
      };
    }));
  }
  const median = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  const summary = { runs, median_interactive_ms: median('interactive_ms'), median_load_ms: median('load_ms') };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'first-load.json'), JSON.stringify(summary, null, 2));
  console.log(`# first load: interactive after ${summary.median_interactive_ms} ms (median of 5), load event ${summary.median_load_ms} ms`);
  assert.ok(runs.every((r) => r.interactive_ms !== null), 'the UI marks taskmgmt:interactive');
  await ctx.close();
});
