-- Restricts every function in `private` to the roles that need it, whatever
-- default privileges the project has.
--
-- Each function already revoked EXECUTE from public when it was created, but
-- a project whose default privileges grant EXECUTE on new functions to the
-- API roles directly would leave them callable. Only the settings readers
-- (called by invoker functions) and the pure validators (evaluated by check
-- constraints with the inserting role's privileges) stay executable.

revoke all on all functions in schema private from public, anon, authenticated, service_role;

grant execute on function private.integer_setting(text) to authenticated, service_role;
grant execute on function private.interval_setting(text) to authenticated, service_role;
grant execute on function private.is_base64url(text, integer) to authenticated, service_role;
grant execute on function private.identity_payload_error(jsonb) to authenticated, service_role;
grant execute on function private.profile_name_error(text) to authenticated, service_role;
