"""Auth routes: register, password grant (JSON and form), refresh, logout."""
import uuid

import requests

from conftest import API, PASSWORD, new_user, problem, sign_in


def email():
    return f"a-{uuid.uuid4().hex[:10]}@example.com"


def test_register_201_and_duplicate_409():
    e = email()
    r = requests.post(API + "/auth/register", json={"email": e, "password": PASSWORD, "display_name": "A"})
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == e and body["display_name"] == "A" and "password" not in r.text
    b = problem(requests.post(API + "/auth/register", json={"email": e.upper(), "password": PASSWORD}), 409)
    assert b["code"] == "conflict"


def test_register_validation_422_names_the_field():
    b = problem(requests.post(API + "/auth/register", json={"email": email(), "password": "short"}), 422)
    assert b["errors"][0]["field"] == "password"
    assert b["code"] == "validation_failed"


def test_register_needs_json():
    problem(requests.post(API + "/auth/register", data="email=x", headers={"Content-Type": "text/plain"}), 415)
    problem(requests.post(API + "/auth/register", data="{not json", headers={"Content-Type": "application/json"}), 400)
    problem(requests.post(API + "/auth/register", data="", headers={"Content-Type": "application/json"}), 400)
    # NUL bytes would silently cut a libpq text parameter: refused
    problem(requests.post(API + "/auth/register", data=b'{"email": "x"}\x00{"a":1}',
                          headers={"Content-Type": "application/json"}), 400)


def test_token_json_and_form():
    u = new_user()
    r = requests.post(API + "/auth/token", json={"grant_type": "password", "username": u.email, "password": PASSWORD})
    assert r.status_code == 200
    t = r.json()
    assert t["token_type"] == "bearer" and t["expires_in"] > 0 and t["access_token"] and t["refresh_token"]
    r = requests.post(API + "/auth/token", data={"grant_type": "password", "username": u.email, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    me = requests.get(API + "/me", headers={"Authorization": "Bearer " + r.json()["access_token"]})
    assert me.status_code == 200 and me.json()["email"] == u.email


def test_token_other_grant_type_is_400():
    u = new_user()
    b = problem(requests.post(API + "/auth/token", data={"grant_type": "client_credentials", "username": u.email,
                                                        "password": PASSWORD}), 400)
    assert b["errors"][0]["field"] == "grant_type"
    problem(requests.post(API + "/auth/token", data="grant_type=%G1", headers={
        "Content-Type": "application/x-www-form-urlencoded"}), 400)
    problem(requests.post(API + "/auth/token", data="x", headers={"Content-Type": "text/plain"}), 415)


def test_wrong_password_and_unknown_email_get_the_same_401():
    u = new_user()
    a = requests.post(API + "/auth/token", json={"username": u.email, "password": "wrong password here"})
    b = requests.post(API + "/auth/token", json={"username": email(), "password": "wrong password here"})
    pa, pb = problem(a, 401), problem(b, 401)
    assert pa == pb
    assert a.headers["WWW-Authenticate"].startswith("Bearer")


def test_repeated_failures_get_429_with_retry_after():
    u = new_user()
    codes = []
    for _ in range(7):
        r = requests.post(API + "/auth/token", json={"username": u.email, "password": "wrong password here"})
        codes.append(r.status_code)
    assert 429 in codes, codes
    r = requests.post(API + "/auth/token", json={"username": u.email, "password": PASSWORD})
    b = problem(r, 429)
    assert b["code"] == "too_many_attempts"
    assert int(r.headers["Retry-After"]) >= 1


def test_refresh_rotates_and_old_token_stops_working():
    u = new_user()
    r = requests.post(API + "/auth/refresh", json={"refresh_token": u.refresh})
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != u.refresh
    problem(requests.post(API + "/auth/refresh", json={"refresh_token": u.refresh}), 401)
    problem(requests.post(API + "/auth/refresh", json={"refresh_token": "garbage"}), 401)


def test_logout_revokes_access_and_refresh_at_once():
    u = new_user()
    assert requests.get(API + "/me", headers=u.h).status_code == 200
    r = requests.post(API + "/auth/logout", headers=u.h)
    assert r.status_code == 204 and r.content == b""
    r = requests.get(API + "/me", headers=u.h)
    problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    problem(requests.post(API + "/auth/refresh", json={"refresh_token": u.refresh}), 401)


def test_missing_or_malformed_authorization_is_401():
    for h in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
              {"Authorization": "Bearer a b"}, {"Authorization": "Bearer x.y.z"}):
        r = requests.get(API + "/tasks", headers=h)
        problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_password_grant_leaves_no_identity_on_pooled_connections():
    u = new_user()
    # a sign-in runs on some pooled connection; requests without a valid
    # token afterwards must never be that user, whatever connection serves them
    for _ in range(12):
        sign_in(u.email)
        problem(requests.get(API + "/me", headers={"Authorization": "Bearer not.a.token"}), 401)
