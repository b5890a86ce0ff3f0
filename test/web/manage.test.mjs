// Teams, the inbox, profile and preferences, and the export and report
// buttons, through the UI; what the API refuses shows next to its field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch } from './browser.mjs';
import { PASSWORD, api, newUser, signedIn } from './helpers.mjs';

let browser, owner, cleo, dan, po;

before(async () => {
  browser = await launch();
  owner = await newUser('Olga Owner');
  cleo = await newUser('Cleo Member');
  dan = await newUser('Dan Member');
  po = await signedIn(browser, owner);
});
after(async () => {
  await po?.context.close();
  await browser?.close();
});

test('teams: create one, add members, change a role, remove a member; a member may only leave', async () => {
  const { page } = po;
  await page.getByRole('link', { name: 'Teams' }).click();
  await page.getByLabel('New team').fill('Platform');
  await page.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('heading', { level: 2, name: 'Platform' }).waitFor();
  for (const u of [cleo, dan]) {
    await page.getByLabel('Find a person').fill(u.email);
    await page.getByLabel('Person', { exact: true }).selectOption({ label: `${u.display_name} (${u.email})` });
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('cell', { name: u.display_name, exact: true }).waitFor();
  }
  await page.getByLabel(`Role of ${cleo.display_name}`).selectOption('lead');
  await page.locator('#status-line', { hasText: 'is now lead' }).waitFor();
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: `Remove ${dan.display_name}` }).click();
  await page.getByRole('cell', { name: dan.display_name, exact: true }).waitFor({ state: 'detached' });
  const teams = await api('GET', '/api/v1/teams', owner.token);
  const team = teams.find((t) => t.name === 'Platform');
  assert.deepEqual(team.members.map((m) => [m.display_name, m.role]).sort(),
    [[cleo.display_name, 'lead'], [owner.display_name, 'owner']].sort());
  // the only owner cannot leave: the API says why
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Leave' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').textContent(), /owner/i);
});

test('inbox: notifications arrive, mark one read, mark all read; the count follows', async () => {
  // Cleo owns a team with the owner in it, so she may assign to the owner
  const team = await api('POST', '/api/v1/teams', cleo.token, { name: 'Inbox team' });
  await api('POST', `/api/v1/teams/${team.id}/members`, cleo.token, { user_id: owner.id, role: 'member' });
  await api('POST', '/api/v1/tasks', cleo.token, { title: 'Inbox one', assignee: { type: 'user', id: owner.id } });
  await api('POST', '/api/v1/tasks', cleo.token, { title: 'Inbox two', assignee: { type: 'user', id: owner.id } });
  const { page } = po;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
  await page.locator('#notif-list li.unread', { hasText: 'Inbox two' }).waitFor();
  const count = () => page.evaluate(() => Number(document.querySelector('#notif-count')?.textContent ?? 0));
  // both assignments counted (the count comes live and may lag the list)
  await page.waitForFunction(() => Number(document.querySelector('#notif-count')?.textContent ?? 0) >= 2);
  const before = await count();
  assert.ok(before >= 1);
  await page.locator('#notif-list li.unread', { hasText: 'Inbox two' }).getByRole('button', { name: /Mark read/ }).click();
  await page.locator('#notif-list li.read', { hasText: 'Inbox two' }).waitFor();
  await page.waitForFunction((n) => Number(document.querySelector('#notif-count')?.textContent ?? 0) < n, before);
  await page.getByRole('button', { name: 'Mark all read' }).click();
  await page.locator('#notif-count').waitFor({ state: 'detached' });
  assert.equal(await page.locator('#notif-list li.unread').count(), 0);
});

test('profile: display name and time zone, a refused password change, a password change, preferences', async () => {
  const u = await newUser('Pat Profile');
  const { context, page } = await signedIn(browser, u);
  await page.getByRole('link', { name: 'Profile' }).click();
  await page.getByLabel('Display name').fill('Pat P.');
  await page.getByLabel('Time zone').selectOption('Europe/Paris');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.locator('#who', { hasText: 'Pat P.' }).waitFor();
  let me = await api('GET', '/api/v1/me', u.token);
  assert.deepEqual([me.display_name, me.timezone], ['Pat P.', 'Europe/Paris']);

  await page.getByLabel('Current password').fill('not my password at all');
  await page.getByLabel(/^New password \(/).fill('a brand new password');
  await page.getByLabel('New password again').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('alert').waitFor();
  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByLabel(/^New password \(/).fill('short');
  await page.getByLabel('New password again').fill('short');
  await page.getByRole('button', { name: 'Change password' }).evaluate((b) => b.form.noValidate = true);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('#e-pw-new').waitFor();   // the API's errors[].field, next to the field
  await page.getByLabel(/^New password \(/).fill('a brand new password');
  await page.getByLabel('New password again').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('#status-line', { hasText: 'Password changed' }).waitFor();
  await api('POST', '/api/v1/auth/token', null, { username: u.email, password: 'a brand new password' });

  await page.getByLabel('A task of mine changes: by email').check();
  await page.getByLabel('Someone comments: in the app').uncheck();
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await page.locator('#status-line', { hasText: 'preferences saved' }).waitFor();
  me = await api('GET', '/api/v1/me', (await api('POST', '/api/v1/auth/token', null, { username: u.email, password: 'a brand new password' })).access_token);
  assert.equal(me.preferences.notifications.updated.email, true);
  assert.equal(me.preferences.notifications.commented.in_app, false);
  await context.close();
});

test('export CSV and the summary reports download for the current filter', async () => {
  const { page } = po;
  await api('POST', '/api/v1/tasks', owner.token, { title: 'Exported, with "quotes"', priority: 'urgent' });
  await page.goto(new URL(page.url()).origin + '/?view=list&priority=urgent');
  await page.locator('#tasks tbody tr', { hasText: 'Exported' }).waitFor();
  const grab = async (name) => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name }).click()]);
    return readFileSync(await dl.path());
  };
  const csv = (await grab('Export CSV')).toString();
  assert.match(csv, /Exported, with ""quotes""/);
  assert.ok(!/Inbox two/.test(csv), 'the filter applies');
  const report = JSON.parse((await grab('Report (JSON)')).toString());
  assert.equal(typeof report, 'object');
  assert.equal((await grab('Report (PDF)')).subarray(0, 4).toString(), '%PDF');
});
