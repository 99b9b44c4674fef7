"""The fake's GraphQL schema and Paved's queries against GitHub's published GraphQL schema.

GitHub's schema comes from the npm package @octokit/graphql-schema pinned in package.json
(installed by `npm ci`, like the OpenAPI description the REST contract tests use). The
fake's schema must be a strict subset of it: every type, field, argument, default and
nullability the fake declares is GitHub's, and no argument GitHub requires is missing.
Paved's own queries must validate against GitHub's schema, and against the fake's so the
fake can answer them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    build_schema,
    parse,
    print_ast,
    validate,
    validate_schema,
)

from sandbox.fake_github.graphql import SCHEMA as FAKE_SCHEMA
from tasks.audit.github_inventory import REPOSITORIES_QUERY
from tests.contract.validation import REPO_ROOT

GITHUB_SCHEMA_PATH = REPO_ROOT / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"

# graphql-core 3.3 checks that a field implementing an interface's field is not deprecated
# when the interface's is not; graphql-js 16, which GitHub's schema is published for, does
# not, and GitHub's schema breaks that rule on a few old fields (Project.id, TeamDiscussion
# ...). Those complaints, and only those, are tolerated when loading it.
TOLERATED_SCHEMA_COMPLAINT = "is not deprecated, so implementation field"

# Query documents Paved sends to GitHub's GraphQL API, by the module that sends them.
PAVED_QUERIES = {"tasks.audit.github_inventory.REPOSITORIES_QUERY": REPOSITORIES_QUERY}


def _load_github_schema(path: Path) -> GraphQLSchema:
    if not path.exists():
        pytest.fail(
            f"GitHub's GraphQL schema is missing ({path}). It comes from the npm package "
            "@octokit/graphql-schema pinned in package.json: run `make test`, or "
            "`npm ci --no-audit --no-fund` at the repository root, then run the contract tests.",
            pytrace=False,
        )
    sdl = path.read_text(encoding="utf-8")
    # GitHub's SDL defines a few fields twice (EnterpriseOwnerInfo), which the SDL rules
    # refuse; the schema built from it keeps one definition of each.
    checked = build_schema(sdl, assume_valid_sdl=True)
    complaints = [
        error.message
        for error in validate_schema(checked)
        if TOLERATED_SCHEMA_COMPLAINT not in error.message
    ]
    assert complaints == [], "GitHub's schema has problems beyond the tolerated one"
    return build_schema(sdl, assume_valid_sdl=True, assume_valid=True)


@pytest.fixture(scope="module")
def github_schema() -> GraphQLSchema:
    """GitHub's GraphQL schema, parsed once per module."""
    return _load_github_schema(GITHUB_SCHEMA_PATH)


def _fake_types() -> list[str]:
    return sorted(
        name
        for name, named in FAKE_SCHEMA.type_map.items()
        if not name.startswith("__")
        and not (isinstance(named, GraphQLScalarType) and name in {"String", "Int", "Boolean"})
    )


def _same_kind(fake: GraphQLNamedType, github: GraphQLNamedType) -> bool:
    kinds = (
        GraphQLObjectType,
        GraphQLInputObjectType,
        GraphQLEnumType,
        GraphQLInterfaceType,
        GraphQLUnionType,
        GraphQLScalarType,
    )
    return any(isinstance(fake, kind) and isinstance(github, kind) for kind in kinds)


def _default(value: GraphQLArgument | GraphQLInputField) -> str | None:
    """An argument's or input field's default as GraphQL source, None when it has none."""
    default = getattr(value, "default", None)  # graphql-core 3.3 keeps the SDL literal here
    if default is not None:
        return print_ast(default.literal) if default.literal is not None else repr(default.value)
    return None if value.default_value is Undefined else repr(value.default_value)


def _required(value: GraphQLArgument | GraphQLInputField) -> bool:
    return isinstance(value.type, GraphQLNonNull) and _default(value) is None


def test_the_fake_declares_types_to_check() -> None:
    assert {"Query", "Organization", "Repository", "BranchProtectionRule"} <= set(_fake_types())


def test_the_fake_answers_queries_at_githubs_root(github_schema: GraphQLSchema) -> None:
    assert FAKE_SCHEMA.query_type is not None and github_schema.query_type is not None
    assert FAKE_SCHEMA.query_type.name == github_schema.query_type.name
    assert FAKE_SCHEMA.mutation_type is None and FAKE_SCHEMA.subscription_type is None


@pytest.mark.parametrize("type_name", _fake_types())
def test_each_type_of_the_fake_is_githubs(type_name: str, github_schema: GraphQLSchema) -> None:
    fake = FAKE_SCHEMA.type_map[type_name]
    github = github_schema.get_type(type_name)
    assert github is not None, f"GitHub's schema has no type {type_name}"
    assert _same_kind(fake, github), f"{type_name} is a {type(github).__name__} on GitHub"
    problems: list[str] = []
    if isinstance(fake, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(github, GraphQLObjectType | GraphQLInterfaceType)
        github_interfaces = {interface.name for interface in github.interfaces}
        problems += [
            f"{type_name} implements {interface.name}, GitHub's does not"
            for interface in fake.interfaces
            if interface.name not in github_interfaces
        ]
        for field_name, field in fake.fields.items():
            theirs = github.fields.get(field_name)
            if theirs is None:
                problems.append(f"{type_name}.{field_name} is not GitHub's")
                continue
            if str(field.type) != str(theirs.type):
                problems.append(f"{type_name}.{field_name}: {field.type}, GitHub: {theirs.type}")
            for arg_name, arg in field.args.items():
                their_arg = theirs.args.get(arg_name)
                where = f"{type_name}.{field_name}({arg_name})"
                if their_arg is None:
                    problems.append(f"{where} is not GitHub's")
                elif str(arg.type) != str(their_arg.type):
                    problems.append(f"{where}: {arg.type}, GitHub: {their_arg.type}")
                elif _default(arg) != _default(their_arg):
                    problems.append(
                        f"{where} defaults to {_default(arg)}, GitHub's to {_default(their_arg)}"
                    )
            problems += [
                f"{type_name}.{field_name}({arg_name}) is required by GitHub, absent here"
                for arg_name, arg in theirs.args.items()
                if _required(arg) and arg_name not in field.args
            ]
    elif isinstance(fake, GraphQLInputObjectType):
        assert isinstance(github, GraphQLInputObjectType)
        for field_name, input_field in fake.fields.items():
            their_field = github.fields.get(field_name)
            if their_field is None:
                problems.append(f"{type_name}.{field_name} is not GitHub's")
            elif str(input_field.type) != str(their_field.type):
                problems.append(
                    f"{type_name}.{field_name}: {input_field.type}, GitHub: {their_field.type}"
                )
            elif _default(input_field) != _default(their_field):
                problems.append(f"{type_name}.{field_name} has another default than GitHub's")
        problems += [
            f"{type_name}.{field_name} is required by GitHub, absent here"
            for field_name, their_field in github.fields.items()
            if _required(their_field) and field_name not in fake.fields
        ]
    elif isinstance(fake, GraphQLEnumType):
        assert isinstance(github, GraphQLEnumType)
        problems += [
            f"{type_name}.{value} is not GitHub's"
            for value in fake.values
            if value not in github.values
        ]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("query_name", sorted(PAVED_QUERIES))
def test_paved_queries_validate_against_githubs_schema(
    query_name: str, github_schema: GraphQLSchema
) -> None:
    errors = validate(github_schema, parse(PAVED_QUERIES[query_name]))
    assert [error.message for error in errors] == []


@pytest.mark.parametrize("query_name", sorted(PAVED_QUERIES))
def test_paved_queries_validate_against_the_fakes_schema(query_name: str) -> None:
    errors = validate(FAKE_SCHEMA, parse(PAVED_QUERIES[query_name]))
    assert [error.message for error in errors] == []


def test_a_query_github_refuses_fails_this_check(github_schema: GraphQLSchema) -> None:
    """The check above can fail: a field GitHub does not have is reported."""
    errors = validate(github_schema, parse('{ organization(login: "acme") { noSuchField } }'))
    assert [error.message for error in errors] == [
        "Cannot query field 'noSuchField' on type 'Organization'."
    ]
