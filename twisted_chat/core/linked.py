"""
What members on other daemons do, as the backplane tells the hub.

L{LinkedHub} is the part of L{twisted_chat.core.hub.Hub} the backplane
calls: remote members (L{RemoteMember}) come, move and go through the same
rooms, names and turn as local ones, so local members see them exactly as
they see each other. It is not used alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted_chat.core import events
from twisted_chat.core.keeper import HistoryKeeper
from twisted_chat.core.peers import Peers, RemoteMember, is_remote
from twisted_chat.core.registry import NameRegistry
from twisted_chat.core.room import Member, Room, room_name
from twisted_chat.core.turn import Turn


class LinkedHub:
    """
    Guarantees: a remote member is in this hub's rooms and names exactly
    while its daemon says it is; what it says reaches every local member of
    the room once, and is recorded in history once; nothing a remote member
    does is told back to the backplane.
    """

    # Set up by the hub.
    turn: Turn
    keeper: HistoryKeeper
    names_in_use: NameRegistry
    peers: Peers | None
    deliveries: int
    default_room: Room
    _rooms_of: dict[Member, tuple[Room, ...]]
    _rooms: dict[str, Room]

    # The hub's own, used here.
    def room(
        self, name: str, create: bool = False, persistent: bool = False
    ) -> Room | None:
        raise NotImplementedError

    def disconnect(self, member: Member) -> None:
        raise NotImplementedError

    def part(self, member: Member, room: Room) -> None:
        raise NotImplementedError

    def move(self, member: Member, name: str) -> str | None:
        raise NotImplementedError

    def rename_to_guest(self, member: Member) -> None:
        raise NotImplementedError

    def _enter(self, member: Member, room: Room) -> None:
        raise NotImplementedError

    def _announce_rename(self, member: Member, old_name: str) -> None:
        raise NotImplementedError

    @property
    def remote_members(self) -> list[RemoteMember]:
        """Everyone connected elsewhere, as this hub knows them."""
        return [m for m in self._rooms_of if type(m) is RemoteMember]

    def local_members(self) -> list[Member]:
        """Everyone connected here."""
        return [m for m in self._rooms_of if type(m) is not RemoteMember]

    def remote_arrived(self, member: RemoteMember) -> None:
        """C{member} is connected elsewhere (in no room yet)."""
        if member in self._rooms_of:
            return
        self._rooms_of[member] = ()
        self.names_in_use.take_if_free(member, member.name)

    def remote_left(self, member: RemoteMember) -> None:
        """C{member} is gone (announced in its rooms)."""
        self.disconnect(member)

    def _linked_room(self, name: str) -> Room | None:
        # Another daemon made it; the cap on rooms is that daemon's to keep.
        wanted = room_name(name)
        return self.room(wanted, create=True) if wanted is not None else None

    def remote_entered(self, member: RemoteMember, name: str) -> None:
        """C{member} came into the room C{name} (announced there)."""
        room = self._linked_room(name)
        if room is None or member not in self._rooms_of or member in room:
            return
        self.turn.flush()
        self._enter(member, room)

    def remote_exited(self, member: RemoteMember, name: str) -> None:
        """C{member} left the room C{name} (announced there)."""
        wanted = room_name(name)
        room = self.room(wanted) if wanted is not None else None
        if room is not None:
            self.part(member, room)

    def remote_renamed(self, member: RemoteMember, name: str) -> None:
        """C{member} is called C{name} now (announced in its rooms)."""
        if member.name == name or member not in self._rooms_of:
            return
        old_name = member.name
        self.names_in_use.release(member)
        member.name = name
        self.names_in_use.take_if_free(member, name)
        self._announce_rename(member, old_name)

    def remote_said(
        self,
        name: str,
        room_name_: str,
        kind: str,
        texts: Sequence[str],
        deliver: bool,
        record: bool,
    ) -> None:
        """
        C{name} said (C{kind} "said") or did ("acted") C{texts} in the room
        C{room_name_}: delivered to the local members there if C{deliver}
        (not for this hub's own lines coming back), kept in its history if
        C{record}.
        """
        room = self._linked_room(room_name_)
        if room is None or not texts:
            return
        texts = tuple(texts)
        if deliver:
            if kind == "said":
                self.deliveries += len(texts) * len(room)
                self.turn.to_room(room, events.Said(name, texts))
            else:
                for action in texts:
                    self.turn.to_room(room, events.Acted(name, action))
        if record:
            self.keeper.record(room, kind, name, texts, self._rooms.values())

    def remote_topic(self, name: str, room_name_: str, topic: str) -> None:
        """C{name} set the topic of C{room_name_} (empty: cleared), elsewhere."""
        room = self._linked_room(room_name_)
        if room is None:
            return
        room.topic = topic
        room.topic_by = name
        self.turn.to_room(room, events.TopicSet(name, room.topic))
        if self.keeper.store is not None:
            self.keeper.store.save_topic(room.key, room.name, room.topic or None)

    def remote_notice(self, room_name_: str, text: str) -> None:
        """A server notice put in the room C{room_name_} elsewhere."""
        wanted = room_name(room_name_)
        room = self.room(wanted) if wanted is not None else None
        if room is not None:
            self.turn.to_room(room, events.Notice(text))

    def remote_lock(self, room_name_: str, locked: bool) -> None:
        """The topic of C{room_name_} was locked (or unlocked) elsewhere."""
        room = self._linked_room(room_name_)
        if room is not None:
            room.topic_locked = locked

    def remote_whisper(self, sender: str, target: Member, text: str) -> None:
        """C{sender}, elsewhere, sends C{text} privately to C{target}, here."""
        if target in self._rooms_of and not is_remote(target):
            self.turn.to_member(target, events.Whispered(sender, text))

    def remote_remove(
        self, target: Member, server: bool, room_name_: str, told: str
    ) -> None:
        """
        An operator elsewhere takes C{target} (here) off the server, or out
        of the room C{room_name_} into the default room.
        """
        if target not in self._rooms_of or is_remote(target):
            return
        self.turn.to_member(target, events.Refused(told))
        wanted = room_name(room_name_) if room_name_ else None
        room = self.room(wanted) if wanted is not None else None
        if server or room is None or room is self.default_room:
            self.turn.flush()
            self.disconnect(target)
            target.close()
        elif target in room:
            self.move(target, self.default_room.name)

    def remote_guest(self, target: Member, told: str) -> None:
        """Another daemon needs C{target}'s name: C{target} becomes a guest."""
        if target in self._rooms_of and not is_remote(target):
            target.account = None
            self.rename_to_guest(target)
            self.turn.to_member(target, events.Notice(told))
