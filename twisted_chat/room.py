"""
The room: who is here, what they are called, and who hears what.

A L{Room} knows nothing of sockets or reactors. A member is anything with a
C{name} and a way to take outgoing bytes (L{Member}), so the telnet protocol,
and later a web socket, SSH or a Redis link, all join the same rooms and the
whole chat logic runs in memory in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import count
from typing import Protocol

from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import text
from twisted_chat.names import NAME_HELP, NAME_RULE, is_reserved, name_key

log = Logger()


class Member(Protocol):
    """
    Someone in a room, as the room sees them.

    C{send} must queue the bytes for delivery and return at once: it never
    blocks and never raises for a connection that has gone away. C{close}
    ends the member's session once what was sent has been delivered.
    """

    name: str

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Room:
    """
    A set of uniquely named members and the fan-out between them.

    Guarantees: names are unique ignoring case and look-alikes (L{name_key});
    the server name and the MOTD are cleaned like what people say; a line
    from one member reaches every other member exactly once, encoded once
    and shared as the same bytes; a member whose C{send} fails is removed
    and never stops delivery to the others; each member sees lines and
    events in the order the room was given them.

    With C{schedule} (for the daemon, C{lambda relay:
    reactor.callLater(0, relay)}), what L{say} is given is relayed once per
    reactor turn: every member gets one write holding everything the others
    said in that turn, however many spoke. Anything else the room does
    (joins, leaves, events, whispers) relays what is waiting first. Without
    it, each L{say} is relayed at once.
    """

    def __init__(
        self,
        server_name: str = "twisted_chat",
        announce_limit: int = 100,
        schedule: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.server_name = server_name
        #: Above this many members, joins and leaves are not announced: in a
        #: room of N people that would be N lines for every arrival.
        self.announce_limit = announce_limit
        self.motd = []
        self._by_key: dict[str, Member] = {}
        # Members in joining order; the tuple is what the fan-out iterates,
        # rebuilt lazily so a storm of joins costs no copying.
        self._order: dict[Member, None] = {}
        self._snapshot: tuple[Member, ...] | None = ()
        self._guest_numbers = count(1)
        # Plain counters for metrics: lines relayed from people, deliveries
        # (one line reaching one member) and bytes handed to members.
        self.lines_relayed = 0
        self.deliveries = 0
        self.bytes_out = 0
        self._schedule = schedule
        # What was said since the last relay, as (speaker, encoded lines).
        self._said: list[tuple[Member, bytes]] = []

    @property
    def server_name(self) -> str:
        """
        The name in the greeting: set to anything, it is kept cleaned
        (L{text.one_line}), so it is one line with no control, escape,
        bidi or invisible character; an empty one becomes C{twisted_chat}.
        """
        return self._server_name

    @server_name.setter
    def server_name(self, name: str) -> None:
        self._server_name = text.one_line(name) or "twisted_chat"

    @property
    def motd(self) -> list[str]:
        """
        The message of the day: lines every newcomer sees after the
        greeting. Set to any lines, it keeps them cleaned
        (L{text.clean_string}), a line break in one making two.
        """
        return list(self._motd)

    @motd.setter
    def motd(self, lines: Iterable[str]) -> None:
        self._motd = [
            text.clean_string(part)
            for line in lines
            for part in line.splitlines() or [""]
        ]

    @property
    def _everyone(self) -> tuple[Member, ...]:
        if self._snapshot is None:
            self._snapshot = tuple(self._order)
        return self._snapshot

    @property
    def quiet(self) -> bool:
        """Whether the room is too big to announce joins and leaves."""
        return bool(self.announce_limit) and len(self) > self.announce_limit

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, member: object) -> bool:
        name = getattr(member, "name", None)
        return isinstance(name, str) and self._by_key.get(name_key(name)) is member

    @property
    def members(self) -> tuple[Member, ...]:
        """Everyone here, in the order they joined."""
        return self._everyone

    @property
    def names(self) -> list[str]:
        """Everyone's name, sorted ignoring case."""
        return sorted((m.name for m in self._everyone), key=str.casefold)

    def find(self, name: str) -> Member | None:
        """The member called C{name} (ignoring case and look-alikes), if any."""
        return self._by_key.get(name_key(name))

    def join(self, member: Member) -> None:
        """
        Give C{member} a fresh guest name, greet it, and announce it to the others.
        """
        self.relay()
        name = self._fresh_guest_name()
        member.name = name
        self._by_key[name_key(name)] = member
        self._order[member] = None
        self._snapshot = None
        greeting = text.WELCOME.encode(
            server=self.server_name, name=name, count=len(self)
        )
        if self._motd:
            greeting += text.NOTICE.encode_each(self._motd)
        if self.quiet:
            member.send(greeting + self._quiet_notice())
        else:
            member.send(greeting)
            self.broadcast(text.JOINED.encode(name=name), exclude=member)

    def leave(self, member: Member) -> None:
        """Remove C{member} and tell the others; a member not here is ignored."""
        if member not in self:
            return
        self.relay()
        quiet = self.quiet
        del self._by_key[name_key(member.name)]
        del self._order[member]
        self._snapshot = None
        if not quiet:
            self.broadcast(text.LEFT.encode(name=member.name))

    def say(self, sender: Member, lines: Sequence[str]) -> None:
        """
        Relay C{lines} from C{sender} to everyone else: at once, or with
        the rest of this turn's lines when the room has a C{schedule}.
        """
        if not lines:
            return
        self.lines_relayed += len(lines)
        self.deliveries += len(lines) * (len(self._order) - 1)
        data = text.MESSAGE.encode_each(lines, name=sender.name)
        if self._schedule is None:
            self.broadcast(data, exclude=sender)
            return
        if not self._said:
            self._schedule(self.relay)
        self._said.append((sender, data))

    def relay(self) -> None:
        """
        Deliver everything said since the last relay, one write per member:
        the same bytes for everyone who said nothing, and to each speaker
        what the others said.
        """
        said, self._said = self._said, []
        if not said:
            return
        if len(said) == 1:
            self._fan_out(said[0][1], said[0][0])
            return
        everything = b"".join(data for _, data in said)
        speakers = {speaker for speaker, _ in said}
        broken: list[tuple[Member, Failure]] = []
        sent = 0
        for member in self._everyone:
            if member in speakers:
                data = b"".join(d for speaker, d in said if speaker is not member)
            else:
                data = everything
            if data:
                sent += len(data)
                try:
                    member.send(data)
                except Exception:
                    broken.append((member, Failure()))
        self.bytes_out += sent
        self._remove_all(broken)

    def act(self, sender: Member, action: str) -> None:
        """Relay an action (C{/me waves}) to everyone else."""
        self.broadcast(
            text.ACTION.encode(name=sender.name, text=action), exclude=sender
        )

    def whisper(self, sender: Member, name: str, message: str) -> Member | None:
        """
        Deliver C{message} to the member called C{name} (as L{find}) only.

        @return: that member, or L{None} if there is no such name.
        """
        target = self.find(name)
        if target is not None:
            self._deliver(target, text.PRIVATE.encode(name=sender.name, text=message))
        return target

    def rename(self, member: Member, new_name: str) -> str | None:
        """
        Rename C{member} and announce it to everyone.

        @return: L{None} on success, else a one-line reason for the refusal.
        """
        if not NAME_RULE.fullmatch(new_name):
            return f"Invalid name {new_name!r}: use {NAME_HELP}."
        if is_reserved(new_name):
            return f"The name {new_name} is reserved."
        holder = self.find(new_name)
        if holder is not None and holder is not member:
            if holder.name.casefold() == new_name.casefold():
                return f"The name {new_name} is taken."
            return f"{new_name} looks too much like {holder.name}, who is here."
        old_name = member.name
        if old_name == new_name:
            return f"You are already known as {new_name}."
        # Lines waiting to be relayed go out under the name they were said with.
        self.relay()
        del self._by_key[name_key(old_name)]
        member.name = new_name
        self._by_key[name_key(new_name)] = member
        member.send(text.YOUR_NAME.encode(name=new_name))
        self.broadcast(text.RENAMED.encode(old=old_name, new=new_name), exclude=member)
        return None

    def broadcast(self, data: bytes, exclude: Member | None = None) -> None:
        """Send C{data}, already encoded, to every member but C{exclude}."""
        self.relay()
        self._fan_out(data, exclude)

    def _fan_out(self, data: bytes, exclude: Member | None) -> None:
        broken: list[tuple[Member, Failure]] = []
        everyone = self._everyone
        self.bytes_out += len(data) * (len(everyone) - (exclude in self._order))
        for member in everyone:
            if member is not exclude:
                try:
                    member.send(data)
                except Exception:
                    broken.append((member, Failure()))
        self._remove_all(broken)

    def _remove_all(self, broken: list[tuple[Member, Failure]]) -> None:
        # Removed after the fan-out, so their "has left" follows the line.
        for member, failure in broken:
            self._remove_broken(member, failure)

    def _deliver(self, member: Member, data: bytes) -> None:
        self.relay()
        try:
            member.send(data)
        except Exception:
            self._remove_broken(member, Failure())

    def _remove_broken(self, member: Member, failure: Failure) -> None:
        # One broken member must never stop delivery to the others.
        log.failure("sending to {name} failed; removing it", failure, name=member.name)
        self.leave(member)
        member.close()

    def _quiet_notice(self) -> bytes:
        return text.NOTICE.encode(
            text=f"Over {self.announce_limit} people here: "
            "joins and leaves are not announced."
        )

    def describe_members(self, most: int = 200) -> bytes:
        """
        The /who answer: names sorted ignoring case, at most C{most} of them,
        and in a quiet room a note saying joins and leaves are not announced.
        """
        names = self.names
        shown = ", ".join(names[:most])
        if len(names) > most:
            shown += f" and {len(names) - most} more"
        answer = text.WHO.encode(count=len(names), text=shown)
        return answer + self._quiet_notice() if self.quiet else answer

    def _fresh_guest_name(self) -> str:
        while True:
            name = f"guest{next(self._guest_numbers)}"
            if name_key(name) not in self._by_key:
                return name
