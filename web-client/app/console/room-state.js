// The state of the room open in the console (`app.room`), the lookups
// into it that every part of the room view makes, and what this browser
// remembers of the room: the last message read in each thread.

import { t } from '../i18n.js';

const SEEN_KEY = (id) => `caucus.seen.${id}`;

/** The newest `seq` read per channel in room `id`, as this browser last saved it. */
function loadSeen(id) {
  try {
    const saved = JSON.parse(localStorage.getItem(SEEN_KEY(id)) || '{}');
    return saved && typeof saved === 'object' ? saved : {};
  } catch {
    return {};
  }
}

export function saveSeen(room) {
  try {
    localStorage.setItem(SEEN_KEY(room.id), JSON.stringify(room.seen));
  } catch {
    // Storage full or refused: unread counts start over next time.
  }
}

/** A closed room leaves nothing behind in this browser. */
export function forgetRoom(id) {
  localStorage.removeItem(SEEN_KEY(id));
}

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
    selected: null, // the channel whose thread is shown
    seen: loadSeen(id), // channel -> newest seq read
  };
}

/** The room's parties, in the order they were invited. */
export function partiesInOrder(room) {
  return [...room.participants.values()].filter((p) => p.role === 'party');
}

export function nameOf(room, id) {
  const p = room && room.participants.get(id);
  return p ? p.display_name : t('console.someone');
}

/** A message on screen as `{msg, li}`; nothing when no column shows it. */
export function findMessage(room, id) {
  const channel = room.messages.get(id);
  const col = channel && room.columns.get(channel);
  return col ? col.thread.get(id) : null;
}
