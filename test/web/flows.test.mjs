// Two users in two browser contexts, everything through the UI: A creates a
// task assigned to B, which appears live on B's board with a notification;
// B drags it to In Progress; a card made stale by another change reloads
// instead of overwriting; a reply thread with a mention (autocomplete)
// notifies the mentioned user live; a stale edit of the task is refused and
// reloads; and the main flows work with the keyboard only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { PASSWORD, api, newUser, shot, signedIn, teamOf } from './helpers.mjs';

let browser, ann, ben, pa, pb;

before(async () => {
  browser = await launch();
  ann = await newUser('Ann Flow');
  ben = await newUser('Ben Flow');
  await teamOf(ann, 'Flow', ben);
  pa = await signedIn(browser, ann);
  pb = await signedIn(browser, ben);
});
after(async () => {
  await pa?.context.close();
  await pb?.context.close();
  await browser?.close();
});

const unread = (page) => page.evaluate(() => Number(document.querySelector('#notif-count')?.textContent ?? 0));
// What comes live (no reload) is waited for this long: a bound that only ends
// a test whose push never comes, not a speed requirement (the 3 s it was
// could run out on a machine whose cores the browsers, the shim and the
// database share under load).
const LIVE = { timeout: 15_000 };
const card = (page, status, title) => page.locator(`.column[data-status="${status}"] .task-card`, { hasText: title });
const taskId = async (page, title) => Number(await page.locator('.task-card', { hasText: title }).getAttribute('data-task-id'));

test('A creates a task assigned to B in the UI: it appears live on B\'s board with a notification', async () => {
  await pb.page.getByRole('heading', { name: 'To Do' }).waitFor();
  const before = await unread(pb.page);
  await pa.page.getByRole('button', { name: 'New task' }).click();
  const dialog = pa.page.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill('Plan the offsite');
  await dialog.getByLabel('Assignee').selectOption({ label: 'Ben Flow' });
  await dialog.getByRole('button', { name: 'Create task' }).click();
  await card(pa.page, 'todo', 'Plan the offsite').waitFor();
  await card(pb.page, 'todo', 'Plan the offsite').waitFor(LIVE);
  await pb.page.waitForFunction((n) => Number(document.querySelector('#notif-count')?.textContent ?? 0) > n, before, LIVE);
  await shot(pb.page, 'flow-live-board');
});

test('B drags the card to In Progress: the status changes, and A\'s board follows', async () => {
  await pb.page.dragAndDrop('.column[data-status="todo"] .task-card:has-text("Plan the offsite")', '.column[data-status="in_progress"]');
  await card(pb.page, 'in_progress', 'Plan the offsite').waitFor();
  const id = await taskId(pb.page, 'Plan the offsite');
  assert.equal((await api('GET', `/api/v1/tasks/${id}`, ann.token)).status, 'in_progress');
  await card(pa.page, 'in_progress', 'Plan the offsite').waitFor(LIVE);   // A created it: notified
});

test('a stale card reloads instead of overwriting', async () => {
  const t = await api('POST', '/api/v1/tasks', ann.token, { title: 'Order the catering', assignee: { type: 'user', id: ben.id } });
  await card(pb.page, 'todo', 'Order the catering').waitFor(LIVE);
  // keep B's board from refetching until its PATCH is sent, so its copy is stale for sure
  let hold = true;
  await pb.page.route(/\/api\/v1\/tasks\?/, (r) => (hold ? r.abort() : r.continue()));
  pb.page.on('request', (r) => { if (r.method() === 'PATCH') hold = false; });
  await api('PATCH', `/api/v1/tasks/${t.id}`, ann.token, { status: 'done' });
  const answer = pb.page.waitForResponse((r) => r.request().method() === 'PATCH');
  await pb.page.dragAndDrop('.column[data-status="todo"] .task-card:has-text("Order the catering")', '.column[data-status="in_progress"]');
  assert.equal((await answer).status(), 412);
  await pb.page.locator('#status-line', { hasText: 'changed by someone else' }).waitFor();
  await card(pb.page, 'done', 'Order the catering').waitFor();
  await pb.page.unroute(/\/api\/v1\/tasks\?/);
  assert.equal((await api('GET', `/api/v1/tasks/${t.id}`, ann.token)).status, 'done', 'not overwritten');
});

test('a reply thread with a mention chosen from the suggestions notifies the mentioned user live', async () => {
  const t = await api('POST', '/api/v1/tasks', ann.token, { title: 'Choose the venue', assignee: { type: 'user', id: ben.id } });
  await api('POST', `/api/v1/tasks/${t.id}/comments`, ann.token, { body: 'Two options: the lake or the hills.' });
  await pa.page.getByRole('link', { name: /Board/ }).click();
  const before = await unread(pa.page);
  await pb.page.goto(`${new URL(pb.page.url()).origin}/?task=${t.id}`);
  const first = pb.page.locator('#comments li', { hasText: 'Two options' });
  await first.getByRole('button', { name: 'Reply' }).click();
  const box = pb.page.getByLabel(/^Reply to/);
  await box.pressSequentially(`The lake. @${ann.email.split('@')[0]}`);
  await pb.page.getByRole('option', { name: new RegExp(`Ann Flow ${ann.email}`) }).waitFor();
  await box.press('Enter');
  assert.match(await box.inputValue(), new RegExp(`@${ann.email.replace(/[.]/g, '\\.')} $`));
  await box.pressSequentially('what do you think?');
  await pb.page.getByRole('button', { name: 'Reply', exact: true }).last().click();
  const reply = pb.page.locator('#comments li.depth-1', { hasText: 'The lake.' });
  await reply.waitFor();
  await shot(pb.page, 'flow-thread');
  // A: the mention arrives live (count and inbox), and the thread shows on the task
  await pa.page.waitForFunction((n) => Number(document.querySelector('#notif-count')?.textContent ?? 0) > n, before, LIVE);
  await pa.page.getByRole('link', { name: /Inbox/ }).click();
  const note = pa.page.locator('#notif-list li.unread', { hasText: /mention/i }).first();
  await note.waitFor();
  await note.locator('.notif-open').click();
  await pa.page.locator('#comments li.depth-1', { hasText: 'what do you think?' }).waitFor();
  // A replies to the reply, edits it, then deletes it: the thread keeps its shape
  const lake = pa.page.locator('#comments li.depth-1', { hasText: 'The lake.' });
  await lake.getByRole('button', { name: 'Reply' }).click();
  await pa.page.getByLabel(/^Reply to/).fill('Agreed');
  await pa.page.getByRole('button', { name: 'Reply', exact: true }).last().click();
  const mine = pa.page.locator('#comments li.depth-2', { hasText: 'Agreed' });
  await mine.waitFor();
  await mine.getByRole('button', { name: 'Edit' }).click();
  await pa.page.getByLabel('Edit comment').fill('Agreed, the lake');
  await pa.page.getByRole('button', { name: 'Save', exact: true }).click();
  await pa.page.locator('#comments li.depth-2', { hasText: 'Agreed, the lake' }).filter({ hasText: '(edited)' }).waitFor();
  pa.page.once('dialog', (d) => d.accept());
  await pa.page.locator('#comments li.depth-2').getByRole('button', { name: 'Delete' }).click();
  await pa.page.locator('#comments li.depth-2', { hasText: 'This comment was deleted.' }).waitFor();
});

test('a stale edit of a task is refused and the task reloads', async () => {
  const t = await api('POST', '/api/v1/tasks', ann.token, { title: 'Draft the budget', assignee: { type: 'user', id: ben.id } });
  await pb.page.goto(`${new URL(pb.page.url()).origin}/?task=${t.id}`);
  await pb.page.getByLabel('Title').fill('Draft the budget (Ben)');
  await api('PATCH', `/api/v1/tasks/${t.id}`, ann.token, { title: 'Draft the budget (Ann)' });
  const answer = pb.page.waitForResponse((r) => r.request().method() === 'PATCH');
  await pb.page.getByRole('button', { name: 'Save changes' }).click();
  assert.equal((await answer).status(), 412);
  await pb.page.locator('#status-line', { hasText: 'your edit was not saved' }).waitFor();
  await pb.page.waitForFunction(() => document.querySelector('#f-title')?.value === 'Draft the budget (Ann)');
  assert.equal((await api('GET', `/api/v1/tasks/${t.id}`, ann.token)).title, 'Draft the budget (Ann)');
  // the change A makes now, while B has no edits, shows on B's page live
  await api('PATCH', `/api/v1/tasks/${t.id}`, ann.token, { priority: 'urgent' });
  await pb.page.waitForFunction(() => document.querySelector('#f-priority')?.value === 'urgent', null, LIVE);
});

test('keyboard only: sign in, create, move on the board, search, open, help', async () => {
  const u = await newUser('Kim Keys');
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(new URL(pa.page.url()).origin + '/');
  await page.getByRole('heading', { name: 'Sign in to taskmgmt' }).waitFor();
  await page.keyboard.press('Tab');                      // Email
  await page.keyboard.type(u.email);
  await page.keyboard.press('Tab');                      // Password
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'To Do' }).waitFor();
  await page.keyboard.press('c');                        // create
  await page.getByRole('dialog', { name: 'New task' }).waitFor();
  await page.keyboard.type('Keyboard task');             // the title has focus
  await page.keyboard.press('Enter');
  await card(page, 'todo', 'Keyboard task').waitFor();
  await page.keyboard.press('j');                        // first card
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Keyboard task');
  await page.keyboard.press('Tab');                      // its "In Progress →" button
  assert.match(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), /to In Progress/);
  await page.keyboard.press('Enter');
  await card(page, 'in_progress', 'Keyboard task').waitFor();
  await page.keyboard.press('/');                        // search
  await page.waitForFunction(() => document.activeElement?.id === 'search');
  await page.keyboard.type('keyboard');
  await page.keyboard.press('Enter');
  await page.locator('.snippet mark').first().waitFor();
  await page.locator('#search').evaluate((el) => el.blur());
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');                    // open the task
  await page.getByRole('heading', { level: 1, name: 'Keyboard task' }).waitFor();
  await page.keyboard.press('?');
  await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ state: 'hidden' });
  await page.keyboard.press('i');                        // inbox
  await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1', 'focus moved to the new screen');
  await ctx.close();
});
