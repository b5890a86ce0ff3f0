// Subtasks, relations and recurrence in the task view, against the shim:
// subtasks made in the UI (one by keyboard only) with their {total, done}
// progress, on the card too; relations added with a picker that offers only
// tasks the user can see, a cycle of blocks refused next to the picker,
// blocked_by_open shown and gone when the relation is removed; the
// recurrence rule set from a preset, a rule the API refuses with its reason
// next to the field; a task with subtasks deleted with them after asking.
// axe on the task view with all of it, a phone layout, screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { BASE, api, newUser, scan, shot, signedIn } from './helpers.mjs';

let browser, ann, ben, pa, launchTask, domain, secret;

before(async () => {
  browser = await launch();
  ann = await newUser('Ann Plans');
  ben = await newUser('Ben Plans');
  launchTask = await api('POST', '/api/v1/tasks', ann.token, { title: 'Launch the website', due_date: '2031-03-03' });
  domain = await api('POST', '/api/v1/tasks', ann.token, { title: 'Buy the domain name' });
  secret = await api('POST', '/api/v1/tasks', ben.token, { title: 'Ben domain secret' });
  pa = await signedIn(browser, ann);
});
after(async () => {
  await pa?.context.close();
  await browser?.close();
});

/** Clicks (or presses) and waits for the task's PATCH answer; its status. */
const saving = async (page, act) => {
  const answer = page.waitForResponse((r) => r.request().method() === 'PATCH' && /\/api\/v1\/tasks\/\d+$/.test(r.url()));
  await act();
  return (await answer).status();
};

const open = async (page, id) => {
  await page.goto(`${BASE}/?task=${id}`);
  await page.locator('#relations').waitFor();
};

test('subtasks: made in the UI (by keyboard too), progress {total, done}, on the board card, a link to the parent', async () => {
  const { page } = pa;
  await open(page, launchTask.id);
  await page.getByText('No subtasks.').waitFor();
  await page.getByLabel('New subtask').fill('Write the copy');
  await page.getByRole('button', { name: 'Add subtask' }).click();
  await page.locator('#subtask-list li', { hasText: 'Write the copy' }).waitFor();
  await page.locator('#subtasks', { hasText: '0 of 1 done' }).waitFor();
  // keyboard only: the field, a title, Enter
  await page.getByLabel('New subtask').focus();
  await page.keyboard.type('Pick the photos');
  await page.keyboard.press('Enter');
  await page.locator('#subtask-list li', { hasText: 'Pick the photos' }).waitFor();
  await page.locator('#subtasks', { hasText: '0 of 2 done' }).waitFor();
  const subs = (await api('GET', `/api/v1/tasks/${launchTask.id}/subtasks`, ann.token)).items;
  assert.deepEqual(subs.map((t) => [t.title, t.parent_id]), [['Write the copy', launchTask.id], ['Pick the photos', launchTask.id]]);
  // another change (here through the API) shows: progress follows
  await api('PATCH', `/api/v1/tasks/${subs[0].id}`, ann.token, { status: 'done' });
  await page.reload();
  await page.locator('#subtasks', { hasText: '1 of 2 done' }).waitFor();
  assert.equal(await page.locator('#subtask-progress').getAttribute('value'), '1');
  // the subtask links to its parent
  await page.locator('#subtask-list').getByRole('link', { name: 'Pick the photos' }).click();
  await page.getByRole('heading', { level: 1, name: 'Pick the photos' }).waitFor();
  await page.locator('#parent-task').getByRole('link', { name: 'Launch the website' }).click();
  await page.getByRole('heading', { level: 1, name: 'Launch the website' }).waitFor();
  await page.goto(`${BASE}/`);
  await page.locator('.task-card', { hasText: 'Launch the website' }).locator('.subtask-count', { hasText: 'Subtasks 1/2' }).waitFor();
});

test('relations: a picker of visible tasks, blocked_by_open, a refused cycle next to the picker, removal', async () => {
  const { page } = pa;
  await open(page, launchTask.id);
  await page.getByText('No related tasks.').waitFor();
  // keyboard only: the type ("Is blocked by" is preset), the search, the first match, Add
  assert.equal(await page.getByLabel('This task').inputValue(), 'blocked_by');
  await page.getByLabel('This task').focus();
  await page.keyboard.press('Tab');                           // Find a task
  await page.keyboard.type('domain');
  await page.locator('#rel-task option', { hasText: 'Buy the domain name' }).waitFor({ state: 'attached' });
  // Ben's task matches the words too, but Ann cannot see it: not offered
  assert.equal(await page.locator('#rel-task option', { hasText: 'secret' }).count(), 0);
  await page.keyboard.press('Tab');                           // Task
  await page.keyboard.press('ArrowDown');                     // the first match
  assert.equal(await page.getByLabel('Task', { exact: true }).inputValue(), String(domain.id));
  await page.keyboard.press('Tab');                           // Add relation
  await page.keyboard.press('Enter');
  const row = page.locator('#relation-list li[data-type="blocked_by"]', { hasText: 'Buy the domain name' });
  await row.waitFor();
  await page.locator('#blocked-note', { hasText: 'Blocked by 1 open task' }).waitFor();
  assert.equal((await api('GET', `/api/v1/tasks/${launchTask.id}`, ann.token)).blocked_by_open, 1);
  await scan(page, 'task with subtasks and relations');
  await shot(page, 'task-planning');

  // domain blocks launch, launch blocks photos: photos blocking domain would be a cycle
  const photos = (await api('GET', `/api/v1/tasks/${launchTask.id}/subtasks`, ann.token)).items[1];
  await api('POST', `/api/v1/tasks/${photos.id}/relations`, ann.token, { type: 'blocked_by', task_id: launchTask.id });
  await row.getByRole('link', { name: 'Buy the domain name' }).click();
  await page.getByRole('heading', { level: 1, name: 'Buy the domain name' }).waitFor();
  await page.locator('#relation-list li[data-type="blocks"]', { hasText: 'Launch the website' }).waitFor();
  // the picker leaves out what is related already
  await page.locator('#rel-task option', { hasText: 'Pick the photos' }).waitFor({ state: 'attached' });
  assert.equal(await page.locator('#rel-task option', { hasText: 'Launch the website' }).count(), 0);
  await page.getByLabel('Find a task').fill('photos');
  await page.getByLabel('Task', { exact: true }).selectOption(String(photos.id));
  await page.getByRole('button', { name: 'Add relation' }).click();
  await page.locator('#e-rel-task').waitFor();
  assert.equal(await page.getByLabel('Task', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal((await api('GET', `/api/v1/tasks/${domain.id}/relations`, ann.token)).items.length, 1, 'nothing added');

  // removing the blocker clears blocked_by_open on the blocked task
  await open(page, launchTask.id);
  await page.locator('#relation-list li[data-type="blocked_by"]').getByRole('button', { name: 'Remove relation with Buy the domain name' }).click();
  await page.locator('#relation-list li[data-type="blocked_by"]').waitFor({ state: 'detached' });
  await page.locator('#blocked-note').waitFor({ state: 'detached' });
  assert.equal((await api('GET', `/api/v1/tasks/${launchTask.id}`, ann.token)).blocked_by_open, 0);
  assert.ok(secret.id);
});

test('recurrence: a preset fills the rule, it is saved, and a refused rule shows the reason next to the field', async () => {
  const { page } = pa;
  await open(page, launchTask.id);
  // the due date (2031-03-03) is a Monday: the weekly preset says so
  await page.getByLabel('Common rules').selectOption({ label: 'Every week on Monday' });
  assert.equal(await page.getByLabel('Rule (RRULE)').inputValue(), 'FREQ=WEEKLY;BYDAY=MO');
  assert.equal(await saving(page, () => page.getByRole('button', { name: 'Save changes' }).click()), 200);
  assert.equal((await api('GET', `/api/v1/tasks/${launchTask.id}`, ann.token)).recurrence, 'FREQ=WEEKLY;BYDAY=MO');
  await page.locator('#task-meta', { hasText: 'repeats' }).waitFor();

  await page.getByLabel('Rule (RRULE)').fill('FREQ=HOURLY');
  assert.equal(await page.getByLabel('Common rules').inputValue(), 'custom');
  assert.equal(await saving(page, () => page.getByRole('button', { name: 'Save changes' }).click()), 422);
  await page.locator('#e-recurrence').waitFor();
  assert.equal(await page.getByLabel('Rule (RRULE)').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#e-recurrence').textContent(), /\S/);
  await scan(page, 'recurrence error');
  await shot(page, 'task-recurrence-error');
  // keyboard only: from the rule's field back to the presets, the first one, then save
  await page.getByLabel('Rule (RRULE)').focus();
  await page.keyboard.press('Shift+Tab');                     // Common rules
  await page.keyboard.press('Home');                          // Does not repeat
  await page.keyboard.press('ArrowDown');                     // Every day
  assert.equal(await page.getByLabel('Rule (RRULE)').inputValue(), 'FREQ=DAILY');
  await page.getByRole('button', { name: 'Save changes' }).focus();
  assert.equal(await saving(page, () => page.keyboard.press('Enter')), 200);
  assert.equal((await api('GET', `/api/v1/tasks/${launchTask.id}`, ann.token)).recurrence, 'FREQ=DAILY');
  // no rule again
  await page.getByLabel('Common rules').selectOption('');
  assert.equal(await saving(page, () => page.getByRole('button', { name: 'Save changes' }).click()), 200);
  assert.equal((await api('GET', `/api/v1/tasks/${launchTask.id}`, ann.token)).recurrence, null);
});

test('phone: the task view with subtasks and relations fits 390 px', async () => {
  const p = await signedIn(browser, ann, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await open(p.page, launchTask.id);
  await p.page.locator('#subtask-list li').first().waitFor();
  const wide = await p.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the task view is ${wide}px wide on a 390px phone`);
  await scan(p.page, 'phone task planning');
  await shot(p.page, 'phone-task-planning');
  await p.context.close();
});

test('deleting a task with subtasks asks again, then deletes them with it', async () => {
  const { page } = pa;
  await open(page, launchTask.id);
  const asked = [];
  page.on('dialog', (d) => { asked.push(d.message()); void d.accept(); });
  await page.getByRole('button', { name: 'Delete task' }).click();
  await page.getByRole('heading', { name: 'To Do' }).waitFor();
  assert.equal(asked.length, 2);
  assert.match(asked[1], /subtasks/);
  const gone = await fetch(`${BASE}/api/v1/tasks/${launchTask.id}`, { headers: { Authorization: `Bearer ${ann.token}` } });
  assert.equal(gone.status, 404);
  page.removeAllListeners('dialog');
});
