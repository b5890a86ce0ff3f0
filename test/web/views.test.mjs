// Saved views through the UI against the shim: the list's filters (the
// filter language's text included) saved under a name, opened from the
// dialog, shared as a link another user opens, opened by name
// (/?saved=NAME), changed and updated, renamed, deleted, and the default
// view applied at sign-in; a filter the API refuses shows its reason next
// to the field. Then personal access tokens on the profile: made (the
// secret shown once and copied), working, listed, revoked. Keyboard only
// for the main flows, axe on each new part, screenshots kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch } from './browser.mjs';
import { BASE, api, newUser, scan, shot, signedIn, teamOf } from './helpers.mjs';

let browser, ann, ben, pa;
const clip = { permissions: ['clipboard-read', 'clipboard-write'] };

before(async () => {
  browser = await launch();
  ann = await newUser('Ann Views');
  ben = await newUser('Ben Views');
  const team = await teamOf(ann, 'Views', ben);
  for (const [title, priority] of [['Fix the login outage', 'urgent'], ['Tidy the wiki', 'low'], ['Rotate the keys', 'high']]) {
    await api('POST', '/api/v1/tasks', ann.token, { title, priority, team_id: team.id });
  }
  pa = await signedIn(browser, ann, clip);
});
after(async () => {
  await pa?.context.close();
  await browser?.close();
});

const rows = (page) => page.locator('#tasks tbody tr');
const titles = async (page) => (await rows(page).locator('.row-title').allTextContents()).sort();
const views = async (u) => (await api('GET', '/api/v1/views', u.token)).map((v) => [v.name, v.filter, v.is_default]);

test('saved views: save the filters with the filter language, open, share, open by name, update, rename, delete', async () => {
  const { page } = pa;
  await page.goto(`${BASE}/?view=list`);
  await rows(page).first().waitFor();
  // a filter the API refuses: the reason next to the field, no list
  await page.getByLabel('Filter', { exact: true }).fill('priority>>');
  await page.getByLabel('Filter', { exact: true }).press('Enter');
  await page.locator('#e-filter-text', { hasText: 'position' }).waitFor();
  assert.equal(await page.getByLabel('Filter', { exact: true }).getAttribute('aria-invalid'), 'true');
  await page.getByText('Fix the filter to see tasks.').waitFor();
  await scan(page, 'filter error');
  await page.getByLabel('Filter', { exact: true }).fill('priority>=high');
  await page.getByLabel('Filter', { exact: true }).press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);
  assert.deepEqual(await titles(page), ['Fix the login outage', 'Rotate the keys']);
  assert.equal(new URL(page.url()).searchParams.get('filter'), 'priority>=high');
  await page.getByLabel('Sort').selectOption('title');

  await page.getByRole('button', { name: /^Saved views/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Saved views' });
  await dialog.getByText('No saved views yet').waitFor();
  await scan(page, 'saved views dialog (empty)');
  await dialog.getByLabel('View name').fill('Urgent work');
  await dialog.getByRole('button', { name: 'Save view' }).click();
  await page.locator('#open-view', { hasText: 'Urgent work' }).waitFor();
  assert.deepEqual(await views(ann), [['Urgent work', { filter: 'priority>=high', sort: 'title' }, false]]);
  assert.equal(new URL(page.url()).searchParams.get('saved'), 'Urgent work');

  // opened from the dialog, starting from no filters
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 3);
  assert.equal(await page.locator('#open-view').count(), 0);
  await page.getByRole('button', { name: /^Saved views \(1\)/ }).click();
  await dialog.getByRole('link', { name: 'Urgent work' }).waitFor();
  await scan(page, 'saved views dialog');
  await shot(page, 'views-dialog');
  await dialog.getByRole('link', { name: 'Urgent work' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);
  assert.equal(await page.getByLabel('Filter', { exact: true }).inputValue(), 'priority>=high');
  assert.equal(await page.getByLabel('Sort').inputValue(), 'title');

  // the link of a view: another user who sees the same tasks gets the same list
  await page.getByRole('button', { name: /^Saved views/ }).click();
  await dialog.getByRole('button', { name: 'Copy link to Urgent work' }).click();
  await page.locator('#status-line', { hasText: 'Link copied' }).waitFor();
  const link = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(link, /^http:\/\/[^/]+\/\?view=list&.*filter=priority%3E%3Dhigh/);
  await page.keyboard.press('Escape');
  const pb = await signedIn(browser, ben);
  await pb.page.goto(link);
  await pb.page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);
  assert.deepEqual(await titles(pb.page), ['Fix the login outage', 'Rotate the keys']);
  await pb.page.locator('#open-view', { hasText: 'Urgent work' }).waitFor();
  await pb.context.close();

  // /?saved=NAME alone opens my view of that name
  await page.goto(`${BASE}/?view=list&saved=urgent%20work`);
  await page.waitForFunction(() => new URL(location.href).searchParams.get('filter') === 'priority>=high');
  await page.waitForFunction(() => document.querySelectorAll('#tasks tbody tr').length === 2);

  // changed filters: the view says so and can be updated
  await page.getByLabel('Filter', { exact: true }).fill('priority:urgent');
  await page.getByLabel('Filter', { exact: true }).press('Enter');
  await page.locator('#open-view', { hasText: '(changed)' }).waitFor();
  await page.getByRole('button', { name: 'Update the view' }).click();
  await page.locator('#open-view', { hasText: '(changed)' }).waitFor({ state: 'detached' });
  assert.deepEqual(await views(ann), [['Urgent work', { filter: 'priority:urgent', sort: 'title' }, false]]);

  // rename (the open view follows), then delete
  await page.getByRole('button', { name: /^Saved views/ }).click();
  await dialog.getByRole('button', { name: 'Rename Urgent work' }).click();
  await dialog.getByLabel('New name for Urgent work').fill('Fires / today');
  await dialog.getByRole('button', { name: 'Rename', exact: true }).click();
  await dialog.getByRole('link', { name: 'Fires / today' }).waitFor();
  assert.deepEqual(await views(ann), [['Fires / today', { filter: 'priority:urgent', sort: 'title' }, false]]);
  await page.locator('#open-view', { hasText: 'Fires / today' }).waitFor();
  page.once('dialog', (d) => d.accept());
  await dialog.getByRole('button', { name: 'Delete Fires / today' }).click();
  await dialog.getByText('No saved views yet').waitFor();
  assert.deepEqual(await views(ann), []);
  await page.keyboard.press('Escape');
});

test('saved views by keyboard only: filter, save as the default view, which a new sign-in opens', async () => {
  const u = await newUser('Kai Keys');
  for (const [title, priority] of [['Ship the release', 'urgent'], ['Water the plants', 'none']]) {
    await api('POST', '/api/v1/tasks', u.token, { title, priority });
  }
  const { context, page } = await signedIn(browser, u);
  await page.getByRole('heading', { name: 'To Do' }).waitFor();
  await page.keyboard.press('/');                              // search box
  await page.waitForFunction(() => document.activeElement?.id === 'search');
  await page.keyboard.press('Tab');                            // Search
  await page.keyboard.press('Tab');                            // Filter
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter-text');
  await page.keyboard.type('priority:urgent');
  await page.keyboard.press('Enter');
  await page.locator('.column[data-status="todo"] .task-card').filter({ hasText: 'Water' }).waitFor({ state: 'detached' });
  await page.locator('.task-card', { hasText: 'Ship the release' }).waitFor();
  await page.locator('#filter-text').evaluate((el) => el.blur());
  await page.keyboard.press('v');                              // the saved-views dialog, focus on the name
  await page.getByRole('dialog', { name: 'Saved views' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'view-name');
  await page.keyboard.type('Only urgent');
  await page.keyboard.press('Tab');                            // default view
  await page.keyboard.press('Space');
  await page.keyboard.press('Enter');                          // saves
  await page.locator('#open-view', { hasText: 'Only urgent' }).waitFor();
  await page.getByRole('dialog', { name: 'Saved views' }).waitFor({ state: 'hidden' });
  assert.deepEqual(await views(u), [['Only urgent', { filter: 'priority:urgent' }, true]]);
  await page.keyboard.press('v');
  await page.getByRole('dialog', { name: 'Saved views' }).waitFor();
  for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');  // checkbox, Save view, the view's link
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Only urgent');
  await page.keyboard.press('Escape');
  await context.close();
  // a new sign-in on the plain board opens the default view
  const again = await signedIn(browser, u);
  await again.page.waitForFunction(() => new URL(location.href).searchParams.get('saved') === 'Only urgent');
  await again.page.locator('.task-card', { hasText: 'Ship the release' }).waitFor();
  assert.equal(await again.page.locator('.task-card', { hasText: 'Water the plants' }).count(), 0);
  await again.context.close();
});

test('personal access tokens: made and copied by keyboard, shown once, working, listed, revoked', async () => {
  const u = await newUser('Tia Tokens');
  const { context, page } = await signedIn(browser, u, clip);
  await page.goto(`${BASE}/?view=profile`);
  await page.getByText('No tokens yet.').waitFor();
  await page.getByLabel('Token name').focus();
  await page.keyboard.type('ci script');
  await page.keyboard.press('Tab');                           // Access
  await page.keyboard.press('ArrowDown');                     // Read and write
  await page.keyboard.press('Tab');                           // Expires after (90 days)
  await page.keyboard.press('Tab');                           // Create token
  await page.keyboard.press('Enter');
  const secret = page.getByLabel('The token ci script');
  await secret.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'new-token', 'the new secret has the focus');
  const token = await secret.inputValue();
  assert.match(token, /^tmpat_[A-Za-z0-9_-]{43}$/);
  await page.keyboard.press('Tab');                           // Copy token
  await page.keyboard.press('Enter');
  await page.locator('#status-line', { hasText: 'Token copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
  await page.locator('#token-list tr', { hasText: 'ci script' }).filter({ hasText: 'Read and write' }).waitFor();
  await scan(page, 'profile with a new token');
  await shot(page, 'profile-tokens');
  // it works, and the listing never shows the secret again
  assert.equal((await api('GET', '/api/v1/me', token)).email, u.email);
  await page.getByRole('button', { name: 'Done' }).click();
  await page.reload();
  await page.locator('#token-list tr', { hasText: 'ci script' }).waitFor();
  assert.ok(!(await page.content()).includes(token), 'the secret is shown once');

  // a read-only token, refused on writes
  await page.getByLabel('Token name').fill('reader');
  await page.getByLabel('Expires after').selectOption('30');
  await page.getByRole('button', { name: 'Create token' }).click();
  const reader = await page.getByLabel('The token reader').inputValue();
  const res = await fetch(`${BASE}/api/v1/tasks`, {
    method: 'POST', headers: { Authorization: `Bearer ${reader}`, 'Content-Type': 'application/json' }, body: '{"title":"x"}',
  });
  assert.equal(res.status, 403);
  await page.locator('#token-list tr', { hasText: 'reader' }).filter({ hasText: 'Read only' }).waitFor();

  // a name the API refuses: its reason next to the field
  await page.getByLabel('Token name').evaluate((el) => el.removeAttribute('maxlength'));
  await page.getByLabel('Token name').fill('x'.repeat(100) + 'y');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#e-t-name').waitFor();

  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Revoke ci script' }).click();
  await page.locator('#token-list tr', { hasText: 'ci script' }).waitFor({ state: 'detached' });
  const gone = await fetch(`${BASE}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(gone.status, 401);
  await context.close();
});
