// Browser tests of the web UI served by the shim: Playwright (playwright-core)
// driving Debian's chromium.  BASE_URL points at a running shim.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch } from './browser.mjs';

const stamp = Date.now();
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function register(page, name, email) {
  await page.goto(BASE + '/');
  await page.click('summary');
  const form = page.locator('#register-form');
  await form.locator('input[name=display_name]').fill(name);
  await form.locator('input[name=email]').fill(email);
  await form.locator('input[name=password]').fill('correct horse battery');
  await form.locator('button').click();
  await page.locator('#who').waitFor();
}

test('a new user registers, adds a task, works it and comments', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await register(page, 'Zoë Ünicode', `ui-${stamp}@example.com`);
  assert.equal(await page.locator('#who').textContent(), 'Zoë Ünicode');

  await page.fill('#task-form input[name=title]', 'Write the launch plan');
  await page.selectOption('#task-form select[name=priority]', 'high');
  await page.fill('#task-form input[name=tags]', 'launch, plan');
  await page.click('#task-form button');
  const row = page.locator('#tasks tbody tr', { hasText: 'Write the launch plan' });
  await row.waitFor();
  assert.match(await row.textContent(), /high/);
  assert.match(await row.textContent(), /launch/);

  await row.click();
  await page.locator('#detail-title', { hasText: 'Write the launch plan' }).waitFor();
  await page.selectOption('#detail-status', 'in_progress');
  await page.locator('#detail-meta', { hasText: 'In Progress' }).waitFor();
  await page.locator('#history li', { hasText: 'status' }).first().waitFor();

  await page.fill('#comment-form textarea', 'First draft is in the shared folder');
  await page.click('#comment-form button');
  await page.locator('#comments li', { hasText: 'First draft' }).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bad password is refused with a message, and nothing is shown', async () => {
  const page = await browser.newPage();
  await page.goto(BASE + '/');
  await page.fill('#sign-in-form input[name=email]', `nobody-${stamp}@example.com`);
  await page.fill('#sign-in-form input[name=password]', 'wrong password here');
  await page.click('#sign-in-form button');
  await page.locator('#message').filter({ hasText: /./ }).waitFor();
  assert.equal(await page.locator('#app').isHidden(), true);
  await page.close();
});

test("another user's tasks are not listed", async () => {
  const page = await browser.newPage();
  await register(page, 'Other Person', `ui-other-${stamp}@example.com`);
  await page.locator('#tasks').waitFor();
  assert.equal(await page.locator('#tasks tbody tr', { hasText: 'Write the launch plan' }).count(), 0);
  await page.close();
});

test('signing out returns to the sign-in form and forgets the session', async () => {
  const page = await browser.newPage();
  await register(page, 'Leaving Soon', `ui-leave-${stamp}@example.com`);
  await page.click('#sign-out');
  await page.locator('#auth').waitFor({ state: 'visible' });
  await page.reload();
  await page.locator('#auth').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#app').isHidden(), true);
  await page.close();
});
