// The addresses that emails link to, and small things a page load shows:
// /?task=ID opens the task (signed in when this tab has a session, after
// signing in when it has none), /?preferences opens the notification
// preferences, the one-click unsubscribe address asks first and then stops
// email; no request of a page load fails (favicon), and the status filter
// offers "canceled".  Tokens come from the test database (psql, as
// scripts/test.sh sets it up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BASE, launch } from './browser.mjs';

const stamp = `${Date.now()}-${process.pid}`;
const PASSWORD = 'correct horse battery';
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

async function register(page, name) {
  const email = `links-${name}-${stamp}@example.com`.toLowerCase();
  await page.goto(BASE + '/');
  await page.click('summary');
  const form = page.locator('#register-form');
  await form.locator('input[name=display_name]').fill(name);
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=password]').fill(PASSWORD);
  await form.locator('button').click();
  await page.locator('#who').waitFor();
  return email;
}

async function signIn(page, email) {
  await page.fill('#sign-in-form input[name=email]', email);
  await page.fill('#sign-in-form input[name=password]', PASSWORD);
  await page.click('#sign-in-form button');
}

async function addTask(page, title) {
  await page.fill('#task-form input[name=title]', title);
  await page.click('#task-form button');
  const row = page.locator('#tasks tbody tr', { hasText: title });
  await row.waitFor();
  return row;
}

test('a page load has no failed request (favicon), and the status filter offers canceled', async () => {
  const { context, page, failed } = await freshPage();
  await register(page, 'Filter');
  assert.equal(await page.locator('link[rel=icon]').getAttribute('href'), '/favicon.svg');
  const icon = await page.request.get(BASE + '/favicon.svg');
  assert.equal(icon.status(), 200);
  assert.equal(icon.headers()['content-type'], 'image/svg+xml');

  await (await addTask(page, 'Call it off')).click();
  await page.selectOption('#detail-status', 'canceled');
  await page.locator('#detail-meta', { hasText: 'Canceled' }).waitFor();
  await addTask(page, 'Still on');
  await page.selectOption('#filter-form select[name=status]', 'canceled');
  await page.click('#filter-form button');
  await page.locator('#tasks tbody tr', { hasText: 'Still on' }).waitFor({ state: 'detached' });
  assert.deepEqual(await page.locator('#tasks tbody tr td:first-child').allTextContents(), ['Call it off']);
  assert.deepEqual(failed, []);
  await context.close();
});

test('a task link opens the task: at once with a session in this tab, after signing in without', async () => {
  const { context, page, failed } = await freshPage();
  const email = await register(page, 'Linker');
  await (await addTask(page, 'Linked from an email')).click();
  await page.locator('#detail-title', { hasText: 'Linked from an email' }).waitFor();
  const link = page.url();
  assert.match(link, /\/\?task=[0-9]+$/, 'the address names the open task');

  // the same tab, following the link (or reloading): still signed in, the task open
  await page.goto(BASE + '/');
  await page.goto(link);
  await page.locator('#detail-title', { hasText: 'Linked from an email' }).waitFor();
  assert.equal(await page.locator('#auth').isHidden(), true, 'no sign-in asked');

  // a new tab (no session): sign in, then the task opens
  const other = await freshPage();
  await other.page.goto(link);
  await other.page.locator('#auth').waitFor({ state: 'visible' });
  await signIn(other.page, email);
  await other.page.locator('#detail-title', { hasText: 'Linked from an email' }).waitFor();
  assert.deepEqual([...failed, ...other.failed], []);
  await other.context.close();
  await context.close();
});

test('/?preferences opens the notification preferences, and a change is saved', async () => {
  const { context, page } = await freshPage();
  await register(page, 'Prefs');
  await page.goto(BASE + '/?preferences');
  await page.locator('#preferences').waitFor({ state: 'visible' });
  const box = page.locator('#prefs-form input[name="mentioned.email"]');
  assert.equal(await box.isChecked(), true, 'mentions are emailed by default');
  await box.uncheck();
  await page.click('#prefs-form button[type=submit]');
  await page.locator('#message', { hasText: 'Preferences saved.' }).waitFor();
  await page.reload();
  await page.locator('#preferences').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#prefs-form input[name="mentioned.email"]').isChecked(), false);
  assert.equal(await page.locator('#prefs-form input[name="mentioned.in_app"]').isChecked(), true);
  await context.close();
});

test('the unsubscribe link of an email asks, then stops every email notification', async () => {
  const { context, page } = await freshPage();
  const email = await register(page, 'Leaver');
  const id = sqlOne(`SELECT id FROM taskmgmt.users WHERE email = '${email}'`);
  const token = sqlOne(`SELECT taskmgmt._unsubscribe_token(${id})`);
  const wants = () => sqlOne(`SELECT string_agg(taskmgmt._wants(preferences, e, 'email')::text, ',') FROM taskmgmt.users,
    jsonb_object_keys(taskmgmt.notification_defaults()) e WHERE id = ${id}`);
  assert.match(wants(), /true/);

  const tab = await freshPage();   // from a mail client: no session
  await tab.page.goto(`${BASE}/api/v1/mail/unsubscribe?token=${token}`);
  await tab.page.locator('#unsubscribe').waitFor({ state: 'visible' });
  assert.equal(await tab.page.locator('#auth').isHidden(), true, 'no sign-in needed');
  assert.match(wants(), /true/, 'opening the link changes nothing');
  await tab.page.click('#unsubscribe-button');
  await tab.page.locator('#unsubscribe-done').waitFor({ state: 'visible' });
  assert.equal(wants(), 'false,false,false,false,false,false');

  await tab.page.goto(`${BASE}/api/v1/mail/unsubscribe?token=${id}.forged`);
  await tab.page.click('#unsubscribe-button');
  await tab.page.locator('#message', { hasText: 'not a valid unsubscribe link' }).waitFor();
  assert.equal(await tab.page.locator('#unsubscribe-done').isHidden(), true);
  await tab.context.close();
  await context.close();
});
