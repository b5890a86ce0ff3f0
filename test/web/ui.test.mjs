// The main flows of the web UI in a real browser: register, create a task
// (the c shortcut and the dialog), edit every field, comment, history; a
// refused sign-in; visibility; signing out; field errors from problem+json.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch } from './browser.mjs';
import { PASSWORD, api, newUser, teamOf } from './helpers.mjs';

const stamp = Date.now();
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function register(page, name, email) {
  await page.goto(BASE + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#who').waitFor();
}

test('a new user registers, creates a task, edits every field, comments and sees the history', async () => {
  const owner = await newUser('Team Owner');
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const email = `ui-${stamp}@example.com`;
  await register(page, 'Zoë Ünicode', email);
  assert.equal(await page.locator('#who').textContent(), 'Zoë Ünicode');
  // a team the new user belongs to, for the assignee and team pickers
  const me = await api('POST', '/api/v1/auth/token', null, { username: email, password: PASSWORD });
  const team = await teamOf(owner, 'UI');
  const self = await api('GET', '/api/v1/me', me.access_token);
  await api('POST', `/api/v1/teams/${team.id}/members`, owner.token, { user_id: self.id, role: 'member' });
  await page.reload();
  await page.locator('#who').waitFor();

  await page.getByRole('heading', { name: 'To Do' }).waitFor();
  await page.keyboard.press('c');
  const dialog = page.getByRole('dialog', { name: 'New task' });
  await dialog.getByLabel('Title').fill('Write the launch plan');
  await dialog.getByLabel('Priority').selectOption('high');
  await dialog.getByLabel(/^Tags/).fill('launch, plan');
  await dialog.getByRole('button', { name: 'Create task' }).click();
  const card = page.locator('.column[data-status="todo"] .task-card', { hasText: 'Write the launch plan' });
  await card.waitFor();
  assert.match(await card.textContent(), /High/);
  assert.match(await card.textContent(), /launch/);

  await card.getByRole('button', { name: 'Write the launch plan', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Write the launch plan' }).waitFor();
  await page.getByLabel('Title').fill('Write the launch plan, v2');
  await page.getByLabel('Description').fill('For the spring release');
  await page.getByLabel('Status').selectOption('in_progress');
  await page.getByLabel('Priority').selectOption('urgent');
  await page.getByLabel('Due date').fill('2031-05-04');
  await page.getByLabel('Assignee').selectOption(`team:${team.id}`);
  await page.getByLabel('Team', { exact: true }).selectOption(String(team.id));
  await page.getByLabel(/^Tags/).fill('launch, spring');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#status-line', { hasText: 'Saved.' }).waitFor();
  const id = Number(new URL(page.url()).searchParams.get('task'));
  const t = await api('GET', `/api/v1/tasks/${id}`, me.access_token);
  assert.deepEqual([t.title, t.description, t.status, t.priority, t.due_date, t.assignee.type, t.assignee.id, t.team_id, t.tags],
    ['Write the launch plan, v2', 'For the spring release', 'in_progress', 'urgent', '2031-05-04', 'team', team.id, team.id, ['launch', 'spring']]);
  await page.locator('#history li', { hasText: 'status: To Do → In Progress' }).waitFor();

  await page.getByLabel('Add a comment').fill('First draft is in the shared folder');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await page.locator('#comments li', { hasText: 'First draft' }).waitFor();

  // a field error from problem+json shows next to its field
  await page.getByLabel('Title').fill('   ');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#e-f-title').waitFor();
  assert.equal(await page.getByLabel('Title').getAttribute('aria-invalid'), 'true');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bad password is refused with the API\'s message, and nothing is shown', async () => {
  const page = await browser.newPage();
  await page.goto(BASE + '/');
  await page.getByLabel('Email').fill(`nobody-${stamp}@example.com`);
  await page.getByLabel('Password').fill('wrong password here');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').textContent(), /password/i);
  assert.equal(await page.locator('#who').count(), 0);
  await page.close();
});

test("another user's tasks are not listed", async () => {
  const page = await browser.newPage();
  await register(page, 'Other Person', `ui-other-${stamp}@example.com`);
  await page.goto(BASE + '/?view=list');
  await page.getByText('No tasks match these filters').waitFor();
  assert.equal(await page.locator('#tasks tbody tr', { hasText: 'Write the launch plan' }).count(), 0);
  await page.close();
});

test('signing out returns to the sign-in form and forgets the session; a reload keeps a live one', async () => {
  const page = await browser.newPage();
  await register(page, 'Leaving Soon', `ui-leave-${stamp}@example.com`);
  await page.reload();
  await page.locator('#who').waitFor();  // the refresh token in sessionStorage
  assert.equal(await page.evaluate(() => Object.keys(localStorage).length), 0, 'nothing in localStorage');
  await page.click('#sign-out');
  await page.getByRole('heading', { name: 'Sign in to taskmgmt' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in to taskmgmt' }).waitFor();
  assert.equal(await page.evaluate(() => Object.keys(sessionStorage).length), 0);
  await page.close();
});

test('cursor paging: the list and a board column load the next page after the first 50', async () => {
  const u = await newUser('Page Turner');
  const made = [];
  for (let i = 1; i <= 55; i++) made.push((await api('POST', '/api/v1/tasks', u.token, { title: `Paged task ${String(i).padStart(2, '0')}` })).id);
  const page = await browser.newPage();
  await page.goto(BASE + '/');
  await page.getByLabel('Email').fill(u.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const todo = page.locator('.column[data-status="todo"]');
  await todo.locator('.task-card').nth(49).waitFor();
  assert.equal(await todo.locator('.task-card').count(), 50);
  assert.match(await todo.locator('.count').textContent(), /50\+/);
  await todo.getByRole('button', { name: 'Load more' }).click();
  await todo.locator('.task-card').nth(54).waitFor();
  assert.equal(await todo.getByRole('button', { name: 'Load more' }).count(), 0);

  await page.goto(BASE + '/?view=list&sort=title');
  await page.locator('#tasks tbody tr').nth(49).waitFor();
  assert.equal(await page.locator('#tasks tbody tr').count(), 50);
  await page.locator('#more').click();
  await page.locator('#tasks tbody tr').nth(54).waitFor();
  const ids = (await page.locator('#tasks tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.taskId))));
  assert.deepEqual(ids, made, 'every task once, in title order');
  assert.equal(await page.locator('#more').count(), 0);
  await page.close();
});

test('the assignee picker offers only whom the user may assign: a member themselves and the team, an owner the members too', async () => {
  const owner = await newUser('Olive Owner');
  const member = await newUser('Mel Member');
  const outsider = await newUser('Ozzie Outsider');
  const team = await teamOf(owner, 'Pickers', member);
  const options = async (u) => {
    const page = await browser.newPage();
    await page.goto(BASE + '/');
    await page.getByLabel('Email').fill(u.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'To Do' }).waitFor();
    await page.keyboard.press('c');
    const labels = await page.getByRole('dialog', { name: 'New task' }).getByLabel('Assignee').locator('option').allTextContents();
    await page.close();
    return labels;
  };
  const forMember = await options(member);
  assert.ok(forMember.includes('Mel Member (me)') && forMember.includes(team.name), forMember.join(' | '));
  assert.ok(!forMember.some((l) => /Olive|Ozzie/.test(l)), `a member may not assign the owner: ${forMember.join(' | ')}`);
  const forOwner = await options(owner);
  assert.ok(forOwner.includes('Mel Member') && forOwner.includes(team.name), forOwner.join(' | '));
  assert.ok(!forOwner.some((l) => /Ozzie/.test(l)), `nobody outside the teams: ${forOwner.join(' | ')}`);
  assert.ok(outsider.id);
});
