// Live updates across two browsers: user A assigns a task to user B, and B's
// page shows the notification and the task without a reload, over the
// notification websocket opened by the page itself (same origin, no
// --cors-origins).  BASE_URL points at a running shim; the deploy suite runs
// this file against the compose deployment too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch } from './browser.mjs';

const stamp = `${Date.now()}-${process.pid}`;
const PASSWORD = 'correct horse battery';
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function api(method, path, token, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(BASE + path, { method, headers, body: body && JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function registerUser(name) {
  const email = `live-${name}-${stamp}@example.com`.toLowerCase();
  const user = await api('POST', '/api/v1/auth/register', null, { email, password: PASSWORD, display_name: name });
  return { ...user, email };
}

// A page in its own browser context, signed in through the UI, that records
// every websocket it opens and anything that looks like a refusal.
async function signedInPage(user) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = { sockets: [], problems: [] };
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), closed: false, error: null };
    seen.sockets.push(entry);
    ws.on('socketerror', (e) => { entry.error = String(e); seen.problems.push(`socket error: ${e}`); });
    ws.on('close', () => { entry.closed = true; });
  });
  page.on('console', (m) => { if (/websocket|403|forbidden/i.test(m.text())) seen.problems.push(m.text()); });
  page.on('pageerror', (e) => seen.problems.push(e.message));
  await page.goto(BASE + '/');
  await page.fill('#sign-in-form input[name=email]', user.email);
  await page.fill('#sign-in-form input[name=password]', PASSWORD);
  await page.click('#sign-in-form button');
  await page.locator('#who').filter({ hasText: user.display_name }).waitFor();
  return { context, page, seen };
}

test('an assignment by user A shows on user B\'s page within 2 s, without a reload', async () => {
  const a = await registerUser('Ann');
  const b = await registerUser('Ben');
  const aTok = (await api('POST', '/api/v1/auth/token', null,
    { grant_type: 'password', username: a.email, password: PASSWORD })).access_token;
  // A leads a team with B in it, so A may assign to B
  const team = await api('POST', '/api/v1/teams', aTok, { name: `Live ${stamp}` });
  await api('POST', `/api/v1/teams/${team.id}/members`, aTok, { user_id: b.id, role: 'member' });

  const pa = await signedInPage(a);
  const pb = await signedInPage(b);
  try {
    // B's page has opened its notification socket and it stays open
    for (let i = 0; i < 50 && pb.seen.sockets.length === 0; i++) await pb.page.waitForTimeout(100);
    await pb.page.waitForTimeout(500);   // a refused upgrade would have shown by now
    assert.ok(pb.seen.sockets.length >= 1, 'B\'s page opened a websocket');
    const before = Number(await pb.page.locator('#notif-count').textContent());
    let navigations = 0;
    pb.page.on('framenavigated', (f) => { if (f === pb.page.mainFrame()) navigations++; });

    const title = `Review the live board ${stamp}`;
    const t0 = Date.now();
    await api('POST', '/api/v1/tasks', aTok, { title, assignee: { type: 'user', id: b.id } });
    await pb.page.locator('#tasks tbody tr', { hasText: title }).waitFor({ timeout: 2000 });
    await pb.page.waitForFunction((n) => Number(document.querySelector('#notif-count').textContent) > n,
      before, { timeout: 2000 });
    const ms = Date.now() - t0;
    console.log(`# live update reached B's page in ${ms} ms`);
    assert.ok(ms <= 2000, `took ${ms} ms`);
    assert.equal(navigations, 0, 'no reload happened');
    assert.match(await pb.page.locator('#notif-list').textContent(), /assign/i);

    // no socket was refused or dropped on either page
    for (const p of [pa, pb]) {
      assert.deepEqual(p.seen.problems, []);
      assert.ok(p.seen.sockets.length === 1, `one socket, not retries: ${JSON.stringify(p.seen.sockets)}`);
      assert.equal(p.seen.sockets[0].closed, false);
    }
  } finally {
    await pa.context.close();
    await pb.context.close();
  }
});
