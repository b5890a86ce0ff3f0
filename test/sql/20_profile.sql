-- Profile and preferences: me(), update_me(patch) with PATCH semantics.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET search_path = taskmgmt, public;
SET ROLE regress_client;

SELECT register('pat@example.com', 'pat password 123', 'Pat') ->> 'email';
SELECT sign_in('pat@example.com', 'pat password 123') ->> 'token_type';

-- display_name and timezone; absent fields keep their value.
SELECT update_me('{"display_name": "  Pat Q. "}') - '{id,created_at}'::text[];
SELECT update_me('{"timezone": "Europe/Paris"}') ->> 'timezone' AS tz,
       me() ->> 'display_name' AS name_kept;
SELECT update_me('{}') - '{id,created_at}'::text[] AS empty_patch_changes_nothing;

-- preferences: each event's channels merge into what was there.
SELECT update_me('{"preferences": {"notifications": {"assigned": {"email": false}}}}') -> 'preferences';
SELECT update_me('{"preferences": {"notifications": {"assigned": {"in_app": true},
                                                      "overdue": {"email": true, "in_app": false}}}}')
       -> 'preferences';
SELECT update_me('{"preferences": {"default_view": {"filter": {"status": "todo"}, "sort": "-due_date"}}}')
       -> 'preferences';
-- default_view: null removes it; notifications stay.
SELECT update_me('{"preferences": {"default_view": null}}') -> 'preferences';
SELECT me() -> 'preferences' -> 'notifications' -> 'assigned' AS stored;

-- Unknown and read-only fields are refused, not ignored.
SELECT err($$SELECT update_me('{"nickname": "p"}')$$);
SELECT err($$SELECT update_me('{"role": "admin"}')$$);
SELECT err($$SELECT update_me('{"email": "other@example.com"}')$$);
SELECT err($$SELECT update_me('{"id": 1}')$$);
SELECT err($$SELECT update_me('{"disabled": true}')$$);
SELECT err($$SELECT update_me('{"created_at": "2020-01-01T00:00:00Z"}')$$);
SELECT err($$SELECT update_me('[]')$$);
SELECT err($$SELECT update_me(NULL)$$);

-- Field validation names the field.
SELECT err($$SELECT update_me('{"display_name": ""}')$$);
SELECT err($$SELECT update_me('{"display_name": null}')$$);
SELECT err($$SELECT update_me('{"display_name": 42}')$$);
SELECT err(format('SELECT update_me(%L)', jsonb_build_object('display_name', repeat('n', 101))));
SELECT err($$SELECT update_me('{"timezone": "Mars/Olympus"}')$$);
SELECT err($$SELECT update_me('{"timezone": null}')$$);
SELECT err($$SELECT update_me('{"timezone": 1}')$$);

-- Preferences are checked against the documented shape.
SELECT err($$SELECT update_me('{"preferences": []}')$$);
SELECT err($$SELECT update_me('{"preferences": {"theme": "dark"}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"notifications": []}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"notifications": {"birthday": {"email": true}}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"notifications": {"assigned": true}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"notifications": {"assigned": {"sms": true}}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"notifications": {"assigned": {"email": "yes"}}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"default_view": "list"}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"default_view": {"columns": []}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"default_view": {"filter": "todo"}}}')$$);
SELECT err($$SELECT update_me('{"preferences": {"default_view": {"sort": 1}}}')$$);

-- A refused patch changes nothing, even the valid parts of it.
SELECT err($$SELECT update_me('{"display_name": "Changed", "timezone": "Nowhere/Else"}')$$);
SELECT me() - '{id,created_at}'::text[] AS unchanged;

-- The table itself: one may edit one's own profile columns, nothing else.
SELECT err($$UPDATE users SET role = 'admin' WHERE id = current_user_id()$$);
SELECT err($$UPDATE users SET disabled = true WHERE id = current_user_id()$$);
SELECT err($$UPDATE users SET email = 'x@example.com' WHERE id = current_user_id()$$);
SELECT err($$INSERT INTO users (email, display_name) VALUES ('y@example.com', 'Y')$$);
SELECT err($$DELETE FROM users WHERE id = current_user_id()$$);
SELECT err($$SELECT * FROM credentials$$);
SELECT err($$SELECT * FROM sessions$$);
SELECT err($$SELECT * FROM signing_keys$$);
SELECT err($$UPDATE users SET timezone = 'Mars/Olympus' WHERE id = current_user_id()$$);
SELECT err($$UPDATE users SET preferences = '{"theme": "dark"}' WHERE id = current_user_id()$$);
SELECT err($$UPDATE users SET display_name = '  ' WHERE id = current_user_id()$$);
UPDATE users SET display_name = 'Pat by SQL' WHERE id = current_user_id();
SELECT me() ->> 'display_name' AS renamed_by_sql;
-- someone else's row: invisible to UPDATE (0 rows), not an error
SELECT register('other@example.com', 'other password 1', 'Other') ->> 'email';
UPDATE users SET display_name = 'Hacked' WHERE email = 'other@example.com';
RESET ROLE;
SELECT display_name FROM taskmgmt.users WHERE email = 'other@example.com';
SET ROLE regress_client;

-- Signed out, the directory is closed too.
SELECT sign_out();
SELECT count(*) AS users_visible_signed_out FROM users;
SELECT err($$SELECT update_me('{"display_name": "x"}')$$);
