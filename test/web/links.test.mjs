// The addresses that emails link to, and small things a page load shows:
// /?task=ID opens the task (signed in when this tab has a session, after
// signing in when it has none), /?preferences opens the notification
// preferences, the one-click unsubscribe address asks first and then stops
// email; no request of a page load fails (favicon).  Tokens come from the
// test database (psql, as scripts/test.sh sets it up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BASE, launch } from './browser.mjs';
import { PASSWORD, api, newUser, scan, shot, signedIn } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function sqlOne(query) {
  return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', process.env.TEST_DB_NAME, '-c', query],
    { encoding: 'utf8' }).trim();
}

async function freshPage() {
  const context = await browser.newContext();   // its own sessionStorage: a new tab from a mail client
  const page = await context.newPage();
  const failed = [];
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  page.on('pageerror', (e) => failed.push(e.message));
  return { context, page, failed };
}

test('a page load has no failed request, and the favicon is served', async () => {
  const { context, page, failed } = await freshPage();
  await page.goto(BASE + '/');
  await page.locator('#sign-in-form').waitFor();
  assert.equal(await page.locator('link[rel=icon]').getAttribute('href'), '/favicon.svg');
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    const icon = await page.request.get(BASE + path);
    assert.equal(icon.status(), 200, path);
    assert.equal(icon.headers()['content-type'], 'image/svg+xml', path);
  }
  assert.deepEqual(failed, []);
  await context.close();
});

test('a task link opens the task: at once with a session in this tab, after signing in without', async () => {
  const user = await newUser('Linker');
  const task = await api('POST', '/api/v1/tasks', user.token, { title: 'Linked from an email' });
  const link = `${BASE}/?task=${task.id}`;

  const { context, page } = await signedIn(browser, user);
  await page.goto(link);                        // the same tab: still signed in
  await page.getByRole('heading', { name: 'Linked from an email' }).waitFor();
  assert.equal(await page.locator('#sign-in-form').count(), 0, 'no sign-in asked');

  const other = await freshPage();              // a new tab: sign in, then the task opens
  await other.page.goto(link);
  await other.page.locator('#sign-in-form').waitFor();
  await other.page.getByLabel('Email').fill(user.email);
  await other.page.getByLabel('Password').fill(PASSWORD);
  await other.page.getByRole('button', { name: 'Sign in' }).click();
  await other.page.getByRole('heading', { name: 'Linked from an email' }).waitFor();
  assert.deepEqual(other.failed, []);
  await other.context.close();
  await context.close();
});

test('/?preferences opens the notification preferences, and a change is saved', async () => {
  const user = await newUser('Prefs');
  const { context, page } = await signedIn(browser, user);
  await page.goto(BASE + '/?preferences');
  await page.locator('#preferences').waitFor({ state: 'visible' });
  const box = page.getByLabel('Someone mentions me: by email');
  assert.equal(await box.isChecked(), true, 'mentions are emailed by default');
  await box.uncheck();
  await page.locator('#preferences button[type=submit]').click();
  await page.getByText('Notification preferences saved.').first().waitFor();
  const wants = (ch) => sqlOne(`SELECT taskmgmt._wants(preferences, 'mentioned', '${ch}') FROM taskmgmt.users WHERE id = ${user.id}`);
  assert.equal(wants('email'), 'f');
  assert.equal(wants('in_app'), 't');
  await page.reload();
  await page.locator('#preferences').waitFor({ state: 'visible' });
  assert.equal(await page.getByLabel('Someone mentions me: by email').isChecked(), false);
  await context.close();
});

test('the unsubscribe link of an email asks, then stops every email notification', async () => {
  const user = await newUser('Leaver');
  const token = sqlOne(`SELECT taskmgmt._unsubscribe_token(${user.id})`);
  const wants = () => sqlOne(`SELECT string_agg(taskmgmt._wants(preferences, e, 'email')::text, ',') FROM taskmgmt.users,
    jsonb_object_keys(taskmgmt.notification_defaults()) e WHERE id = ${user.id}`);
  assert.match(wants(), /true/);

  const tab = await freshPage();   // from a mail client: no session
  await tab.page.goto(`${BASE}/api/v1/mail/unsubscribe?token=${token}`);
  await tab.page.locator('#unsubscribe').waitFor({ state: 'visible' });
  assert.equal(await tab.page.locator('#sign-in-form').count(), 0, 'no sign-in needed');
  assert.match(wants(), /true/, 'opening the link changes nothing');
  await scan(tab.page, 'unsubscribe');
  await shot(tab.page, 'unsubscribe');
  await tab.page.click('#unsubscribe-button');
  await tab.page.locator('#unsubscribe-done').waitFor({ state: 'visible' });
  await scan(tab.page, 'unsubscribed');
  await shot(tab.page, 'unsubscribed');
  assert.match(wants(), /^false(,false)+$/, 'every event: no email');

  await tab.page.goto(`${BASE}/api/v1/mail/unsubscribe?token=${user.id}.forged`);
  await tab.page.click('#unsubscribe-button');
  await tab.page.locator('#message', { hasText: 'not a valid unsubscribe link' }).waitFor();
  assert.equal(await tab.page.locator('#unsubscribe-done').count(), 0);
  await tab.context.close();
});
