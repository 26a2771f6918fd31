package nexflow.authz_test

import data.nexflow.authz

malformed(value) if {
	d := authz.decision with input as value
	not d.allow
	codes(d) == {"malformed_input"}
}

test_non_object_input_is_malformed if malformed(["not", "an", "object"])

test_missing_principal_is_malformed if malformed(object.remove(user_input, ["principal"]))

test_empty_principal_id_is_malformed if {
	malformed(object.union(user_input, {"principal": {"id": "", "roles": ["user"]}}))
}

test_roles_as_string_is_malformed if {
	malformed(object.union(user_input, {"principal": {"id": "a", "roles": "admin"}}))
}

test_unicode_skill_name_is_malformed if malformed(with_skill(user_input, {"name": "fïle-read"}))

test_upper_case_skill_name_is_malformed if malformed(with_skill(user_input, {"name": "File"}))

test_numeric_version_is_malformed if malformed(with_skill(user_input, {"version": 1}))

test_permissions_with_number_is_malformed if malformed(with_skill(user_input, {"permissions": [1]}))

test_tags_not_array_is_malformed if malformed(with_skill(user_input, {"tags": "files"}))

test_network_with_space_is_malformed if malformed(with_skill(user_input, {"network": ["exa mple.com:443"]}))

test_network_with_bad_port_is_malformed if malformed(with_skill(user_input, {"network": ["example.com:http"]}))

test_network_forms_are_well_formed if {
	entries := ["example.com", "example.com:443", "*.example.com", "*.example.com:8443", "[fd00::1]:443"]
	not malformed(with_skill(user_input, {"network": entries}))
}

test_call_hosts_not_array_is_malformed if malformed(with_call_hosts(user_input, "api.test"))

test_call_host_without_port_is_malformed if malformed(with_call_hosts(user_input, [{"field": "url", "host": "api.test"}]))

test_call_host_port_out_of_range_is_malformed if {
	malformed(with_call_hosts(user_input, [{"field": "url", "host": "api.test", "port": 70000}]))
}

test_call_host_with_wildcard_is_malformed if {
	malformed(with_call_hosts(user_input, [{"field": "url", "host": "*.api.test", "port": 443}]))
}

test_network_not_array_is_malformed if malformed(with_skill(user_input, {"network": "example.com:443"}))

test_filesystem_dotdot_is_malformed if {
	malformed(with_skill(user_input, {"filesystem": [{"path": "/home/me/workspace/../etc", "mode": "ro"}]}))
}

test_filesystem_bad_mode_is_malformed if {
	malformed(with_skill(user_input, {"filesystem": [{"path": workspace, "mode": "rwx"}]}))
}

test_limits_not_object_is_malformed if malformed(with_skill(user_input, {"limits": 5}))

test_unknown_limit_is_malformed if malformed(with_skill(user_input, {"limits": {"gpus": 1}}))

test_fractional_limit_is_malformed if malformed(with_skill(user_input, {"limits": {"pids": 1.5}}))

test_missing_call_id_is_malformed if malformed(object.union(user_input, {"call": {"id": ""}}))

test_call_path_relative_is_malformed if {
	malformed(with_call_paths(user_input, [{"field": "p", "value": "x", "resolved": "x", "access": "read"}]))
}

test_call_path_bad_access_is_malformed if {
	paths := [{"field": "p", "value": "x", "resolved": "/home/me/workspace/x", "access": "exec"}]
	malformed(with_call_paths(user_input, paths))
}

test_relative_workspace_is_malformed if {
	malformed(object.union(user_input, {"context": {"workspace": "ws"}}))
}

test_trailing_slash_workspace_is_malformed if {
	malformed(object.union(user_input, {"context": {"workspace": "/ws/"}}))
}

test_approved_not_boolean_is_malformed if {
	malformed(object.union(user_input, {"context": {"approved": "yes"}}))
}

test_root_is_a_normalized_path if authz._normalized_abs("/")

test_missing_principal_id_is_malformed if malformed(replace_section("principal", {"roles": ["admin"]}))

test_missing_skill_name_is_malformed if malformed(replace_section("skill", object.remove(user_input.skill, ["name"])))

test_missing_workspace_is_malformed if malformed(replace_section("context", {"approved": false}))

replace_section(name, value) := object.union(object.remove(user_input, [name]), {name: value})

test_missing_skill_runs_is_malformed if malformed(object.union(user_input, {"context": {"skill_runs": null}}))

test_fractional_skill_runs_is_malformed if malformed(object.union(user_input, {"context": {"skill_runs": 0.5}}))

test_missing_source_is_malformed if malformed(replace_section("skill", object.remove(user_input.skill, ["source"])))

test_publisher_number_is_malformed if malformed(with_skill(user_input, {"publisher": 7}))

test_publisher_verified_string_is_malformed if malformed(with_skill(user_input, {"publisher_verified": "yes"}))

test_null_publisher_is_well_formed if not malformed(with_skill(user_input, {"publisher": null}))

test_fast_and_detailed_checks_agree_on_a_good_input if {
	authz._well_formed with input as user_input
	count(authz._shape_errors) == 0 with input as user_input
}

test_fast_and_detailed_checks_agree_on_a_bad_input if {
	bad := with_skill(user_input, {"limits": {"pids": 0}})
	not authz._well_formed with input as bad
	count(authz._shape_errors) == 1 with input as bad
}
