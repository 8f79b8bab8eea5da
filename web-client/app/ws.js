// The websocket client shared by the party page and the ombud console.
//
// It sends `hello` first, tracks the last `seq` it handed over, and after a
// drop reconnects by itself (exponential backoff with jitter) resuming with
// `since`, so every stored event reaches the page exactly once: events at or
// below the last seen `seq` are dropped here, and the pages also key messages
// by id. Requests carry a `req` id and resolve with the `ack` result or
// reject with a RelayError built from the `error` frame.

import { RelayError } from './api.js';

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSES = {
  4000: 'The connection was refused (bad hello). Please reload the page.',
  4001: 'Your session is no longer valid. Please sign in again or ask for a new link.',
  4003: 'You no longer have access to this conversation.',
  4004: 'This conversation does not exist (any more).',
  4009: 'This conversation has been closed.',
  4010: 'Your ombud has given you a new link, so this session has ended.',
};

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const WELCOME_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 20_000;

export function relaySocketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/**
 * Status callbacks receive `{state, message, code}` where state is one of
 * `connecting`, `online`, `reconnecting`, `closed` (final).
 */
export class Connection {
  /**
   * @param {object} opts
   * @param {string} opts.token
   * @param {string} [opts.roomId]     required for ombuds
   * @param {number|null} [opts.since] resume point; null replays everything
   * @param {(welcome: object) => void} opts.onWelcome
   * @param {(seq: number, event: object, info: {replay: boolean}) => void} opts.onEvent
   * @param {(frame: object) => void} [opts.onEphemeral] presence / typing frames
   * @param {(status: object) => void} [opts.onStatus]
   * @param {(err: RelayError) => void} [opts.onError] error frames that answer no request
   */
  constructor(opts) {
    this.opts = opts;
    this.url = opts.url || relaySocketUrl();
    this.lastSeq = opts.since ?? null;
    this.ws = null;
    this.welcomed = false;
    this.stopped = false;
    this.attempt = 0;
    this.nextReq = 1;
    this.pending = new Map(); // req -> {frame, resolve, reject, retry, sent, timer}
    this.replayUntil = 0;
    this.retryTimer = null;
    this.welcomeTimer = null;
    this.onOnline = () => {
      if (!this.ws && !this.stopped) this.reconnectNow();
    };
    window.addEventListener('online', this.onOnline);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Close for good (after `leave`, or when the page moves on). */
  stop(message = 'Disconnected.') {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.welcomeTimer);
    window.removeEventListener('online', this.onOnline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.failPending('disconnected');
    this.status('closed', message);
  }

  get online() {
    return Boolean(this.ws && this.welcomed);
  }

  /**
   * Send a request and wait for its answer. With `retry`, a request in
   * flight when the connection drops is sent again after the next `welcome`
   * (only for idempotent requests, such as `send` with a `client_id`).
   */
  request(frame, { retry = false } = {}) {
    if (this.stopped) return Promise.reject(new RelayError('disconnected', ''));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      const entry = { frame: { ...frame, req }, resolve, reject, retry, sent: false, timer: null };
      this.pending.set(req, entry);
      if (this.online) this.transmit(req, entry);
    });
  }

  /** Fire and forget (typing indicators); dropped while offline. */
  notify(frame) {
    if (this.online) this.ws.send(JSON.stringify(frame));
  }

  // ---- internals ----

  open() {
    clearTimeout(this.retryTimer);
    this.welcomed = false;
    this.status(this.attempt === 0 ? 'connecting' : 'reconnecting', this.attempt === 0 ? 'Connecting…' : 'Reconnecting…');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      const hello = { type: 'hello', token: this.opts.token, since: this.lastSeq };
      if (this.opts.roomId) hello.room_id = this.opts.roomId;
      ws.send(JSON.stringify(hello));
      this.welcomeTimer = setTimeout(() => {
        if (this.ws === ws && !this.welcomed) ws.close(4999, 'no welcome');
      }, WELCOME_TIMEOUT_MS);
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handle(frame);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.welcomed = false;
      clearTimeout(this.welcomeTimer);
      this.dropped(ev.code, ev.reason);
    });
  }

  handle(frame) {
    switch (frame.type) {
      case 'welcome': {
        clearTimeout(this.welcomeTimer);
        this.welcomed = true;
        this.attempt = 0;
        this.replayUntil = frame.seq;
        this.opts.onWelcome(frame);
        this.status('online', 'Connected.');
        for (const [req, entry] of this.pending) if (!entry.sent) this.transmit(req, entry);
        break;
      }
      case 'event': {
        if (typeof frame.seq !== 'number') return;
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // seen already
        this.lastSeq = frame.seq;
        this.opts.onEvent(frame.seq, frame.event, { replay: frame.seq <= this.replayUntil });
        if (frame.event && frame.event.kind === 'room_closed') this.stop(FINAL_CLOSES[4009]);
        break;
      }
      case 'ack': {
        const entry = this.pending.get(frame.req);
        if (!entry) return;
        this.settle(frame.req);
        entry.resolve(frame.result ?? {});
        break;
      }
      case 'error': {
        const err = new RelayError(frame.code, frame.message);
        const entry = frame.req !== undefined && frame.req !== null ? this.pending.get(frame.req) : null;
        if (entry) {
          this.settle(frame.req);
          entry.reject(err);
        } else if (this.opts.onError) {
          this.opts.onError(err);
        }
        break;
      }
      case 'presence':
      case 'typing':
        if (this.opts.onEphemeral) this.opts.onEphemeral(frame);
        break;
      default:
        break;
    }
  }

  transmit(req, entry) {
    entry.sent = true;
    this.ws.send(JSON.stringify(entry.frame));
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (!this.pending.has(req)) return;
      this.settle(req);
      entry.reject(new RelayError('timeout', ''));
    }, REQUEST_TIMEOUT_MS);
  }

  settle(req) {
    const entry = this.pending.get(req);
    if (entry) clearTimeout(entry.timer);
    this.pending.delete(req);
  }

  /** Requests sent on a dropped socket: resend the idempotent ones later, fail the rest. */
  failInFlight() {
    for (const [req, entry] of [...this.pending]) {
      if (!entry.sent) continue;
      clearTimeout(entry.timer);
      if (entry.retry) {
        entry.sent = false;
      } else {
        this.pending.delete(req);
        entry.reject(new RelayError('disconnected', ''));
      }
    }
  }

  failPending(code) {
    for (const [req, entry] of [...this.pending]) {
      this.settle(req);
      entry.reject(new RelayError(code, ''));
    }
  }

  dropped(code, reason) {
    if (this.stopped) return;
    if (FINAL_CLOSES[code]) {
      this.stop(FINAL_CLOSES[code]);
      this.status('closed', FINAL_CLOSES[code], code, reason);
      return;
    }
    this.failInFlight();
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    this.attempt += 1;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (this.attempt - 1));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.status('reconnecting', `Connection lost. Reconnecting… (next try in ${seconds} s)`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  status(state, message, code, reason) {
    if (this.opts.onStatus) this.opts.onStatus({ state, message, code, reason, attempt: this.attempt });
  }
}

/** Wire a status element (role=status) to a connection's state. */
export function statusReporter(el) {
  return ({ state, message }) => {
    el.dataset.state = state;
    el.textContent = state === 'online' ? 'Connected' : message;
    el.classList.toggle('quiet', state === 'online');
  };
}
