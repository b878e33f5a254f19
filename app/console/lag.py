"""``GET /console/api/groups/{group_id}/lag``: how many of the primary's turns each sleeptime
agent of a group has not read yet, from its watermark (``app.groups.repository.sleeptime_lag``,
the figure behind the ``sleeptime_sleeptime_lag_turns`` metric). The group's own
``turns_since_last_processed`` counts turns since the schedule last fired, which says nothing
of runs that failed or never ran; this does."""

from fastapi import APIRouter

from app.auth.deps import ActorDep
from app.groups import service as groups
from app.groups.repository import sleeptime_lag
from app.kit.deps import SessionDep
from app.kit.ids import GroupIdPath
from app.kit.schemas import ResponseModel

router = APIRouter(prefix="/api")  # under the console's router: /console/api


class MemberLag(ResponseModel):
    agent_id: str
    processed_through_seq: int
    turns: int


class GroupLag(ResponseModel):
    group_id: str
    turns: int  # the worst member's
    members: list[MemberLag]


@router.get("/groups/{group_id}/lag", response_model=GroupLag)
async def group_lag(group_id: GroupIdPath, session: SessionDep, actor: ActorDep) -> GroupLag:
    await groups.get(session, actor, group_id)  # 404 unless it is this organization's
    rows = await sleeptime_lag(session, organization_id=actor.organization_id, group_id=group_id)
    members = [MemberLag.model_validate(row) for row in rows]
    return GroupLag(
        group_id=group_id, turns=max((m.turns for m in members), default=0), members=members
    )
