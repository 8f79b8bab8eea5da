// The state of the room open in the console (`app.room`), and the lookups
// into it that every part of the room view makes.

/** A room just opened: nothing loaded yet. `ombud` is the signed-in ombud. */
export function newRoomState(id, ombud) {
  return {
    id,
    info: null, // RoomInfo
    detail: null,
    detailShown: false, // the tools were reset for this room (see applyDetail)
    participants: new Map(), // id -> ParticipantSummary: {id, role, display_name, joined, left, notice_acknowledged, link?, last_online_at?}
    me: ombud ? ombud.id : null,
    conn: null,
    columns: new Map(), // channel -> column
    messages: new Map(), // message id -> channel
    forwards: new Map(), // forward id -> forward
    presence: new Map(), // participant id -> online
    jointOpen: false,
  };
}

/** The room's parties, in the order they were invited. */
export function partiesInOrder(room) {
  return [...room.participants.values()].filter((p) => p.role === 'party');
}

export function nameOf(room, id) {
  const p = room && room.participants.get(id);
  return p ? p.display_name : 'someone';
}

/** A message on screen as `{msg, li}`; nothing when no column shows it. */
export function findMessage(room, id) {
  const channel = room.messages.get(id);
  const col = channel && room.columns.get(channel);
  return col ? col.thread.get(id) : null;
}
