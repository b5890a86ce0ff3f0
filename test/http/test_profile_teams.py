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


def test_delete_team_owners_and_admins_only_and_not_while_it_has_tasks(alice, bob, admin):
    """#12.1: DELETE /teams/{id}: 204 for its owner (or an admin), 403 for a
    lead, 404 for outsiders, 409 while a task belongs or is assigned to it."""
    team = requests.post(API + "/teams", headers=alice.h, json={"name": "doomed"}).json()
    requests.post(API + f"/teams/{team['id']}/members", headers=alice.h, json={"user_id": bob.id, "role": "lead"})
    outsider = new_user("outsider")
    assert problem(requests.delete(API + f"/teams/{team['id']}", headers=bob.h), 403)["code"] == "forbidden"
    problem(requests.delete(API + f"/teams/{team['id']}", headers=outsider.h), 404)
    problem(requests.delete(API + "/teams/999999999", headers=alice.h), 404)
    task = requests.post(API + "/tasks", headers=alice.h,
                         json={"title": "keeps the team", "assignee": {"type": "team", "id": team["id"]}}).json()
    b = problem(requests.delete(API + f"/teams/{team['id']}", headers=alice.h), 409)
    assert b["detail"] == "the team still has tasks"
    assert requests.get(API + f"/teams/{team['id']}", headers=alice.h).status_code == 200
    assert requests.delete(API + f"/tasks/{task['id']}", headers=alice.h).status_code == 204
    assert requests.delete(API + f"/teams/{team['id']}", headers=alice.h).status_code == 204
    problem(requests.get(API + f"/teams/{team['id']}", headers=alice.h), 404)
    other = requests.post(API + "/teams", headers=alice.h, json={"name": "by admin"}).json()
    assert requests.delete(API + f"/teams/{other['id']}", headers=admin.h).status_code == 204
