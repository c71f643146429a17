"""The test case service: versions, archive, ownership, called directly."""

from __future__ import annotations

import pytest

from qualgent.domain import NotFound
from qualgent.orgs import admin
from qualgent.testcases import service
from qualgent.testcases.schemas import CaseCreate, CaseStatus, CaseUpdate
from tests.services.conftest import World

pytestmark = pytest.mark.anyio

SEARCH = CaseCreate(
    name="Search",
    steps=[{"description": "Type {{query}}"}],
    variables=[{"name": "query", "type": "string", "required": True}],
)


async def test_every_edit_is_a_new_version_and_old_ones_stay(world: World) -> None:
    made = await service.create(world.db, world.org_id, SEARCH)
    assert (made.version.version_number, made.head.status) == (1, CaseStatus.ACTIVE)
    assert made.version.variables == [{"name": "query", "type": "string", "required": True}]
    edited = await service.update(world.db, world.org_id, made.head.id,
                                  CaseUpdate(steps=[{"description": "Tap Search"}]))
    assert edited.version.version_number == 2 and edited.head.name == "Search"
    assert edited.version.variables == made.version.variables  # left out: kept
    versions = await service.versions(world.db, world.org_id, made.head.id)
    assert [v.version_number for v in versions] == [2, 1]
    pinned = await service.version_of(world.db, edited.head, made.version.id)
    assert pinned.steps == [{"description": "Type {{query}}"}]


async def test_archive_is_idempotent_and_leaves_run_all(world: World) -> None:
    kept = await service.create(world.db, world.org_id, SEARCH)
    gone = await service.create(world.db, world.org_id, CaseCreate(
        name="Gone", steps=[{"description": "Open the app"}]))
    first = await service.archive(world.db, world.org_id, gone.head.id)
    again = await service.archive(world.db, world.org_id, gone.head.id)
    assert first.head.status == again.head.status == CaseStatus.ARCHIVED
    assert first.head.updated_at == again.head.updated_at
    assert [c.id for c in await service.active(world.db, world.org_id)] == [kept.head.id]
    listed = await service.summaries(world.db, world.org_id, include_archived=True)
    assert {s.head.id for s in listed} == {kept.head.id, gone.head.id}
    assert all(s.latest_run is None for s in listed)


async def test_another_organizations_case_is_not_found(world: World) -> None:
    made = await service.create(world.db, world.org_id, SEARCH)
    other = await world.other_org()
    with pytest.raises(NotFound) as caught:
        await service.get(world.db, other, made.head.id, "test_case_id")
    assert (caught.value.resource, caught.value.field) == ("Test case", "test_case_id")
    with pytest.raises(NotFound):
        await service.update(world.db, other, made.head.id, CaseUpdate(name="pwned"))
    assert (await service.read(world.db, world.org_id, made.head.id)).head.name == "Search"


async def test_a_foreign_category_is_refused_with_its_field(world: World) -> None:
    other = await world.other_org()
    foreign = await admin.create_category(world.db, str(other), "Secret")
    body = CaseCreate(name="X", steps=[{"description": "s"}], category_id=foreign["id"])
    with pytest.raises(NotFound) as caught:
        await service.create(world.db, world.org_id, body)
    assert (caught.value.resource, caught.value.field) == ("Category", "category_id")
    assert await service.summaries(world.db, world.org_id) == []
