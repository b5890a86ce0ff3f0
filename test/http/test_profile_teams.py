"""Profile, password change, users directory, teams, admin."""
import requests

from conftest import API, PASSWORD, new_user, problem, sign_in


def test_me_and_patch_me(alice):
    r = requests.get(API + "/me", headers=alice.h)
    assert r.status_code == 200
    me = r.json()
    assert me["email"] == alice.email and me["id"] == alice.id
    r = requests.patch(API + "/me", headers=alice.h, json={"display_name": "Alice L.", "timezone": "Europe/Paris"})
    assert r.status_code == 200 and r.json()["display_name"] == "Alice L."
    b = problem(requests.patch(API + "/me", headers=alice.h, json={"role": "admin"}), 422)
    assert b["errors"][0]["field"] == "role"
    problem(requests.patch(API + "/me", headers=alice.h, json=[1, 2]), 422)


def test_change_password():
    u = new_user()
    problem(requests.post(API + "/me/password", headers=u.h,
                          json={"current_password": "not the password", "new_password": "another long password"}), 401)
    r = requests.post(API + "/me/password", headers=u.h,
                      json={"current_password": PASSWORD, "new_password": "another long password"})
    assert r.status_code == 204
    problem(requests.post(API + "/auth/token", json={"username": u.email, "password": PASSWORD}), 401)
    sign_in(u.email, "another long password")


def test_users_directory(alice, bob):
    r = requests.get(API + "/users", params={"q": bob.email}, headers=alice.h)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [bob.id]
    assert set(r.json()[0]) == {"id", "display_name", "email"}
    b = problem(requests.get(API + "/users", params={"limit": "0"}, headers=alice.h), 400)
    assert b["errors"][0]["field"] == "limit"
    b = problem(requests.get(API + "/users", params={"page": "2"}, headers=alice.h), 400)
    assert b["errors"][0]["field"] == "page"


def test_teams_create_list_get_members(alice, bob):
    r = requests.post(API + "/teams", headers=alice.h, json={"name": "Design"})
    assert r.status_code == 201
    team = r.json()
    assert r.headers["Location"] == f"/api/v1/teams/{team['id']}"
    assert requests.get(API + r.headers["Location"][len("/api/v1"):], headers=alice.h).json()["name"] == "Design"
    assert team["id"] in [t["id"] for t in requests.get(API + "/teams", headers=alice.h).json()]
    # bob is not a member: the team does not exist for him
    problem(requests.get(API + f"/teams/{team['id']}", headers=bob.h), 404)
    assert team["id"] not in [t["id"] for t in requests.get(API + "/teams", headers=bob.h).json()]
    r = requests.post(API + f"/teams/{team['id']}/members", headers=alice.h, json={"user_id": bob.id})
    assert r.status_code == 200 and bob.id in [m["user_id"] for m in r.json()["members"]]
    # a plain member cannot manage members
    carol = new_user("carol")
    problem(requests.post(API + f"/teams/{team['id']}/members", headers=bob.h, json={"user_id": carol.id}), 403)
    b = problem(requests.post(API + f"/teams/{team['id']}/members", headers=alice.h,
                              json={"user_id": carol.id, "role": "boss"}), 422)
    assert b["errors"][0]["field"] == "role"
    problem(requests.post(API + f"/teams/{team['id']}/members", headers=alice.h, json={"user_id": "x"}), 400)
    r = requests.delete(API + f"/teams/{team['id']}/members/{bob.id}", headers=alice.h)
    assert r.status_code == 204
    problem(requests.delete(API + f"/teams/{team['id']}/members/{bob.id}", headers=alice.h), 404)
    b = problem(requests.post(API + "/teams", headers=alice.h, json={"name": " "}), 422)
    assert b["errors"][0]["field"] == "name"


def test_admin_update_user(alice, admin):
    problem(requests.patch(API + f"/admin/users/{alice.id}", headers=alice.h, json={"role": "admin"}), 403)
    r = requests.patch(API + f"/admin/users/{alice.id}", headers=admin.h, json={"disabled": True})
    assert r.status_code == 200
    # disabling ends the user's sessions
    problem(requests.get(API + "/me", headers=alice.h), 401)
    problem(requests.patch(API + "/admin/users/999999999", headers=admin.h, json={"disabled": True}), 404)
    b = problem(requests.patch(API + f"/admin/users/{alice.id}", headers=admin.h, json={"role": "king"}), 422)
    assert b["errors"][0]["field"] == "role"
