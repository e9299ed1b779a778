"""
The operators' commands: /op, /deop, /kick, /ban, /unban, /bans, /mute and
/unmute. Each checks who may do it to whom (L{may_act_on}), announces what
was done to the room in a shape no one can forge (a server notice), and
logs it as an audit event (who, what, whom; never what anyone said).
"""

from __future__ import annotations

from twisted.logger import Logger

from twisted_chat.core import events
from twisted_chat.core.hub import Hub
from twisted_chat.core.moderation import (
    address_target,
    describe,
    describe_duration,
    describe_target,
    parse_duration,
    parse_target,
)
from twisted_chat.core.peers import RemoteMember
from twisted_chat.core.room import Member, Room

log = Logger()

SERVER_FLAG = "--server"


def _refuse(member: Member, hub: Hub, reason: str) -> None:
    hub.tell(member, events.Refused(reason))


def audit(actor: Member, action: str, whom: str, scope: str) -> None:
    log.info(
        "audit: {actor} {action} {whom} in {scope}",
        actor=actor.name,
        action=action,
        whom=whom,
        scope=f"#{scope}" if scope else "server-wide",
        audit=True,
    )


def _announce(hub: Hub, rooms: list[Room], text: str) -> None:
    for room in rooms:
        hub.turn.to_room(room, events.Notice(text))
        if hub.peers is not None:
            hub.peers.announced(room, text)


def may_act_on(
    hub: Hub, actor: Member, target_account: str | None, scope: str
) -> str | None:
    """
    Why C{actor} may not restrict or remove someone logged in as
    C{target_account} in C{scope} ("" for the server), or None if it may.

    The rules: server operators may act anywhere, room operators in their
    room only; nobody may act on a server operator; only a server operator
    may act on an operator of the room.
    """
    moderation = hub.moderation
    server = moderation.is_server_operator(actor.account)
    if scope == "":
        if not server:
            return "Only a server operator can do that."
    elif not moderation.is_room_operator(actor.account, scope):
        return "Only an operator of this room can do that (see /who: @ marks them)."
    if moderation.is_server_operator(target_account):
        return "Server operators cannot be moderated."
    if scope and not server and moderation.is_room_operator(target_account, scope):
        return "Only a server operator can moderate an operator of this room."
    return None


def _split_flag(arguments: str) -> tuple[bool, str]:
    if arguments == SERVER_FLAG or arguments.startswith(SERVER_FLAG + " "):
        return True, arguments[len(SERVER_FLAG) :].strip()
    return False, arguments


def _scope_of(member: Member, hub: Hub, server: bool) -> tuple[str, Room | None] | None:
    room = hub.room_of(member)
    if server:
        return "", room
    if room is None:
        return None
    return room.key, room


def op(member: Member, hub: Hub, arguments: str, grant: bool = True) -> None:
    verb = "op" if grant else "deop"
    room = hub.room_of(member)
    if not arguments or " " in arguments or room is None:
        _refuse(member, hub, f"Usage: /{verb} NAME")
        return
    if not hub.moderation.is_room_operator(member.account, room.key):
        _refuse(member, hub, "Only an operator of this room can do that.")
        return
    registered = hub.moderation.account(arguments)
    if registered is None:
        _refuse(member, hub, f"{arguments} is not a registered name.")
        return
    key, name = registered.key, registered.name
    if grant:
        hub.moderation.grant(room.key, key, member.name)
        text = f"{member.name} made {name} an operator of #{room.name}"
    else:
        refusal = (
            may_act_on(hub, member, key, room.key) if key != member.account else None
        )
        if refusal is not None:
            _refuse(member, hub, refusal)
            return
        if not hub.moderation.revoke(room.key, key):
            _refuse(member, hub, f"{name} is not an operator of #{room.name}.")
            return
        text = f"{member.name} took operator from {name} in #{room.name}"
    _announce(hub, [room], text)
    audit(member, verb, name, room.key)


def deop(member: Member, hub: Hub, arguments: str) -> None:
    op(member, hub, arguments, grant=False)


def kick(member: Member, hub: Hub, arguments: str) -> None:
    server, arguments = _split_flag(arguments)
    name, _, reason = arguments.partition(" ")
    reason = reason.strip()
    if not name:
        _refuse(member, hub, "Usage: /kick [--server] NAME [REASON]")
        return
    target = hub.find(name)
    where = _scope_of(member, hub, server)
    if target is None or where is None:
        _refuse(member, hub, f"No such name: {name}")
        return
    scope, room = where
    if not server and (room is None or target not in room):
        _refuse(member, hub, f"{target.name} is not in #{room.name if room else ''}.")
        return
    refusal = may_act_on(hub, member, target.account, scope)
    if refusal is not None:
        _refuse(member, hub, refusal)
        return
    why = f" ({reason})" if reason else ""
    rooms = [room] if room is not None else []
    if server:
        rooms += [r for r in hub.rooms_of(target) if r not in rooms]
    where_text = "from the server" if server else f"from #{room.name}" if room else ""
    _announce(hub, rooms, f"{member.name} kicked {target.name}{why}")
    audit(member, "kicked", target.name, scope)
    remove(
        hub,
        target,
        server,
        room,
        f"You were kicked {where_text} by {member.name}{why}.",
    )


def remove(
    hub: Hub, target: Member, server: bool, room: Room | None, told: str
) -> None:
    """
    Take C{target} out: off the server, or out of C{room} into the default
    room (off the server if C{room} is the default room).
    """
    if hub.peers is not None and isinstance(target, RemoteMember):
        # Its own daemon takes it out, and tells every daemon it went.
        hub.peers.remove(target, server, room, told)
        return
    hub.tell(target, events.Refused(told))
    if server or room is None or room is hub.default_room:
        hub.turn.flush()
        # Gone from every room at once, not when its connection has closed.
        hub.disconnect(target)
        target.close()
        return
    hub.move(target, hub.default_room.name)


def _restrict(member: Member, hub: Hub, arguments: str, what: str) -> None:
    server, arguments = _split_flag(arguments)
    given, _, rest = arguments.partition(" ")
    usage = f"Usage: /{what} [--server] NAME|ADDRESS|CIDR [DURATION] [REASON]"
    if what == "mute":
        usage = "Usage: /mute [--server] NAME [DURATION] [REASON]"
    target = parse_target(given) if given else None
    where = _scope_of(member, hub, server)
    if given and target is None:
        _refuse(member, hub, f"Not a name, an address or a network: {given}")
        return
    if target is None or where is None:
        _refuse(member, hub, usage)
        return
    scope, room = where
    first, _, after = rest.strip().partition(" ")
    duration = parse_duration(first) if first else None
    reason = (after if duration is not None else rest).strip()
    # A guest's name means nothing (a reconnect gives another): the
    # restriction is on where it connects from.
    person = hub.find(given) if target.startswith("name:") else None
    account = person.account if person is not None else None
    if person is None and target.startswith("name:"):
        registered = hub.moderation.account(given)
        account = registered.key if registered is not None else None
    if person is not None and person.account is None and person.address is not None:
        by_address = address_target(person.address)
        # Unless the address is shared with someone who may not be touched
        # (the operator on the same machine, behind the same NAT): then
        # the guest's name is all there is to go by.
        if _covers_someone_protected(hub, member, by_address, scope, room) is None:
            target = by_address
    refusal = may_act_on(hub, member, account, scope)
    if refusal is None and target.startswith("address:"):
        refusal = _covers_someone_protected(hub, member, target, scope, room)
    if refusal is not None:
        _refuse(member, hub, refusal)
        return
    restriction = hub.moderation.restrict(
        what, scope, target, duration, reason, member.name
    )
    shown = person.name if person is not None else describe_target(target)
    how_long = f" for {describe_duration(duration)}" if duration else ""
    why = f" ({reason})" if reason else ""
    verb = "banned" if what == "ban" else "muted"
    rooms = [room] if room is not None else []
    if person is not None:
        rooms += [
            r for r in hub.rooms_of(person) if r not in rooms and (server or r is room)
        ]
    _announce(hub, rooms, f"{member.name} {verb} {shown}{how_long}{why}")
    whom = describe_target(target)
    if person is not None and target.startswith("address:"):
        whom = f"{person.name} ({whom})"
    audit(member, verb, whom, scope)
    if what == "ban":
        told = "from this server" if server else f"from #{room.name}" if room else ""
        message = f"You are banned {told}{describe(restriction, hub.now())}."
        for victim in _matching(hub, target, account, scope, room):
            remove(hub, victim, server, room, message)


def _covers_someone_protected(
    hub: Hub, actor: Member, target: str, scope: str, room: Room | None
) -> str | None:
    """Why an address or network may not be restricted: whom it would cover."""
    network = hub.moderation.network(target)
    candidates = hub.members if scope == "" else room.members if room else ()
    for candidate in candidates:
        ip = candidate.address
        if ip is None or not hub.moderation.covers(network, ip):
            continue
        if candidate is actor:
            return f"{describe_target(target)} covers you too."
        refusal = may_act_on(hub, actor, candidate.account, scope)
        if refusal is not None:
            return f"{describe_target(target)} covers {candidate.name}: {refusal}"
    return None


def _matching(
    hub: Hub, target: str, account: str | None, scope: str, room: Room | None
) -> list[Member]:
    """Who a new ban covers, among those connected (in C{room}, for a room ban)."""
    candidates = hub.members if scope == "" else room.members if room else ()
    found = []
    for candidate in candidates:
        restriction = hub.moderation.in_force(
            "ban", (scope,), candidate.account, candidate.name, candidate.address
        )
        if restriction is not None and restriction.target == target:
            found.append(candidate)
    return found


def ban(member: Member, hub: Hub, arguments: str) -> None:
    _restrict(member, hub, arguments, "ban")


def mute(member: Member, hub: Hub, arguments: str) -> None:
    _restrict(member, hub, arguments, "mute")


def _lift(member: Member, hub: Hub, arguments: str, what: str) -> None:
    server, arguments = _split_flag(arguments)
    target = parse_target(arguments) if arguments and " " not in arguments else None
    where = _scope_of(member, hub, server)
    if target is None or where is None:
        _refuse(member, hub, f"Usage: /un{what} [--server] NAME|ADDRESS|CIDR")
        return
    scope, room = where
    refusal = may_act_on(hub, member, None, scope)
    if refusal is not None:
        _refuse(member, hub, refusal)
        return
    person = hub.find(arguments) if target.startswith("name:") else None
    targets = [target]
    if person is not None and person.account is None and person.address is not None:
        targets.append(address_target(person.address))
    lifted = [t for t in targets if hub.moderation.lift(what, scope, t)]
    if not lifted:
        _refuse(member, hub, f"No {what} on {arguments} here.")
        return
    verb = "unbanned" if what == "ban" else "unmuted"
    _announce(hub, [room] if room else [], f"{member.name} {verb} {arguments}")
    whom = describe_target(lifted[-1])
    if person is not None and lifted[-1].startswith("address:"):
        whom = f"{person.name} ({whom})"
    audit(member, verb, whom, scope)


def unban(member: Member, hub: Hub, arguments: str) -> None:
    _lift(member, hub, arguments, "ban")


def unmute(member: Member, hub: Hub, arguments: str) -> None:
    _lift(member, hub, arguments, "mute")


def bans(member: Member, hub: Hub, arguments: str) -> None:
    server, arguments = _split_flag(arguments)
    where = _scope_of(member, hub, server)
    if where is None:
        return
    scope, room = where
    place = "on this server" if server else f"in #{room.name}" if room else ""
    now = hub.now()
    shown = 0
    for what in ("ban", "mute"):
        for restriction in hub.moderation.listing(what, scope):
            hub.tell(
                member,
                events.Notice(
                    f"{what} {describe_target(restriction.target)}"
                    f"{describe(restriction, now)}, by {restriction.by}"
                ),
            )
            shown += 1
    if not shown:
        hub.tell(member, events.Notice(f"No bans or mutes {place}."))
