// "… is typing" on both pages: a throttled notice to the others while this
// person types, and a line naming whoever else is typing in a thread.
// Notices are ephemeral (never stored), so a missed one only hides the line early.

import { setText, clearText } from './i18n.js';

/**
 * However fast someone types, one notice per channel this often is enough
 * (well inside the relay's rate limit), and it must come more often than
 * SHOW_MS so a steady typist's name does not blink.
 */
const SEND_EVERY_MS = 1000;
/** A name stays on the typing line this long after its latest notice: short, so it never outlives the typing. */
export const SHOW_MS = 1800;

/**
 * A function to call on every keystroke in the composer for `channel`: it
 * sends a `typing` notice on `connection()` at most once every
 * SEND_EVERY_MS per channel, and nothing while there is no connection yet.
 */
export function typingNotifier(connection) {
  const sent = new Map(); // channel -> when the last notice went out (ms)
  return (channel) => {
    const conn = connection();
    const now = Date.now();
    if (!conn || now - (sent.get(channel) || 0) < SEND_EVERY_MS) return;
    sent.set(channel, now);
    conn.notify({ type: 'typing', channel });
  };
}

/**
 * A function to call with the participant id of every typing notice for one
 * thread: `el` then reads "Ana is typing…" (or "Ana, Ben are typing…"),
 * naming each through `nameOf`, until SHOW_MS pass without a newer notice.
 * Its `clear(participantId)` takes a name off at once: call it when that
 * person's message arrives.
 */
export function typingIndicator(el, nameOf) {
  const typers = new Map(); // participant id -> timer that takes them off the line
  const render = () => {
    const names = [...typers.keys()].map((id) => nameOf(id));
    if (names.length) setText(el, 'thread.typing', { names: names.join(', '), count: names.length });
    else clearText(el).textContent = '';
  };
  const show = (participantId) => {
    clearTimeout(typers.get(participantId));
    typers.set(
      participantId,
      setTimeout(() => {
        typers.delete(participantId);
        render();
      }, SHOW_MS),
    );
    render();
  };
  show.clear = (participantId) => {
    if (!typers.has(participantId)) return;
    clearTimeout(typers.get(participantId));
    typers.delete(participantId);
    render();
  };
  return show;
}
