// Shared by the UI tests: users made through the API, a signed-in page in
// its own browser context, the accessibility scan (axe-core, no serious or
// critical violation), and screenshots kept in the suite's output folder
// ($WEB_OUT, default .run/test-out/web) for a reviewer.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { BASE } from './browser.mjs';

export const PASSWORD = 'correct horse battery';
export const OUT = process.env.WEB_OUT || new URL('../../.run/test-out/web', import.meta.url).pathname;
const stamp = `${Date.now().toString(36)}${process.pid}`;
let n = 0;

export async function api(method, path, token, body, extraHeaders = {}) {
  const headers = { 'Content-Type': 'application/json', ...extraHeaders };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  // 503 + Retry-After: the shim's cap on concurrent bcrypt calls (sign-in
  // busy on a loaded machine); try again a few times
  for (let i = 0; ; i++) {
    res = await fetch(BASE + path, { method, headers, body: body && JSON.stringify(body) });
    if (res.status !== 503 || i >= 10) break;
    await new Promise((r) => setTimeout(r, 300 * (i + 1)));
  }
  const data = res.status === 204 ? null : await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

/** A new user with an access token; the email's local part is unique. */
export async function newUser(name) {
  const email = `${name.toLowerCase().replace(/[^a-z]/g, '')}${stamp}${++n}@example.com`;
  const user = await api('POST', '/api/v1/auth/register', null, { email, password: PASSWORD, display_name: name });
  const { access_token: token } = await api('POST', '/api/v1/auth/token', null, { grant_type: 'password', username: email, password: PASSWORD });
  return { ...user, email, token };
}

/** A team owned by owner with the others as members. */
export async function teamOf(owner, name, ...members) {
  const team = await api('POST', '/api/v1/teams', owner.token, { name: `${name} ${stamp}` });
  for (const m of members) await api('POST', `/api/v1/teams/${team.id}/members`, owner.token, { user_id: m.id, role: 'member' });
  return team;
}

/**
 * A page in its own context, signed in through the form; `seen` records
 * page errors and websockets (for the live checks).
 */
export async function signedIn(browser, user, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const seen = { errors: [], sockets: [] };
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), closed: false };
    seen.sockets.push(entry);
    ws.on('close', () => { entry.closed = true; });
  });
  await page.goto(BASE + '/');
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(PASSWORD);
  // a sign-in refused as busy (503: the shim's bcrypt cap, several tests
  // signing in at once on a loaded machine) is tried again, as api() does
  const who = page.locator('#who', { hasText: user.display_name });   // hidden on phones
  for (let i = 0; ; i++) {
    const busy = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/token') && r.status() === 503, { timeout: 60_000 })
      .then(() => true, () => false);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (!(await Promise.race([who.waitFor({ state: 'attached', timeout: 60_000 }).then(() => false), busy])) || i >= 10) break;
    await page.waitForTimeout(300 * (i + 1));
  }
  await who.waitFor({ state: 'attached' });
  return { context, page, seen };
}

export async function shot(page, name) {
  mkdirSync(join(OUT, 'screens'), { recursive: true });
  await page.screenshot({ path: join(OUT, 'screens', `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: fails on serious or critical violations. */
export async function scan(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const text = bad.map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 3).map((x) => x.target.join(' ')).join('\n  ')}`).join('\n');
  assert.equal(bad.length, 0, `${name}: accessibility violations\n${text}`);
  return result.violations.length;
}

export { BASE };
