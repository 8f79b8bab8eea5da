// The websocket client shared by the party page and the ombud console.
//
// It sends `hello` first, tracks the last `seq` it handed over, and after a
// drop reconnects by itself (exponential backoff with jitter) resuming with
// `since`, so every stored event reaches the page exactly once: events at or
// below the last seen `seq` are dropped here, and the pages also key messages
// by id. Requests carry a `req` id and resolve with the `ack` result or
// reject with a RelayError built from the `error` frame.

import { RelayError } from './api.js';
import { t, setText } from './i18n.js';

/** Close codes after which reconnecting cannot help (`connection.close<code>` says why). */
const FINAL_CLOSES = new Set([4000, 4001, 4003, 4004, 4009, 4010]);

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const WELCOME_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 20_000;
/**
 * The heartbeat: a `ping` request this often while connected, and a socket
 * whose answer takes longer than HEARTBEAT_TIMEOUT_MS is treated as dead.
 * The browser's own `online` flag only says an interface is up, and a
 * half-open TCP connection can stay "open" for minutes.
 */
const HEARTBEAT_EVERY_MS = 10_000;
const HEARTBEAT_TIMEOUT_MS = 5_000;
/** After this many failed reconnects in a row the page says it is offline. */
const OFFLINE_AFTER_ATTEMPTS = 2;

/**
 * The relay's websocket address. `room` names the room the socket is for:
 * the relay ignores it (the token in `hello` decides), but a load balancer
 * can hash it to keep a room's sockets on one node (PROTOCOL.md §4).
 */
export function relaySocketUrl(room) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = room ? `?room=${encodeURIComponent(room)}` : '';
  return `${scheme}//${location.host}/ws${query}`;
}

/**
 * Status callbacks receive `{state, message, key, params, code}` where state
 * is one of `connecting`, `online`, `reconnecting`, `offline` (reconnecting,
 * but the network looks gone), `closed` (final); `message` is `key`
 * translated with `params`, for pages that re-translate it later.
 */
export class Connection {
  /**
   * @param {object} opts
   * @param {string} opts.token
   * @param {string} [opts.roomId]     required for ombuds
   * @param {string} [opts.room]       the room, for the address only (see relaySocketUrl)
   * @param {number|null} [opts.since] resume point; null replays everything
   * @param {(welcome: object) => void} opts.onWelcome
   * @param {(seq: number, event: object, info: {replay: boolean}) => void} opts.onEvent
   * @param {(frame: object) => void} [opts.onEphemeral] presence / typing frames
   * @param {(status: object) => void} [opts.onStatus]
   * @param {(err: RelayError) => void} [opts.onError] error frames that answer no request
   */
  constructor(opts) {
    this.opts = opts;
    this.url = opts.url || relaySocketUrl(opts.room || opts.roomId);
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
    this.heartbeatTimer = null;
    this.probing = false;
    // The browser's network events are only hints: each one makes us check
    // the socket at once instead of waiting for the next heartbeat.
    this.onOnline = () => {
      if (this.stopped) return;
      if (!this.ws) this.reconnectNow();
      else this.probe();
    };
    this.onOffline = () => this.probe();
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.probe();
    };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('visibilitychange', this.onVisible);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Close for good (after `leave`, or when the page moves on); `key` says why. */
  stop(key = 'connection.disconnected') {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.welcomeTimer);
    clearInterval(this.heartbeatTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.failPending('disconnected');
    this.status('closed', key);
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

  /**
   * Send a `ping` and close the socket if no answer comes in time: the
   * close then runs the usual reconnect. Only one probe at a time.
   */
  probe() {
    if (!this.online || this.probing) return;
    const ws = this.ws;
    this.probing = true;
    const timer = setTimeout(() => {
      this.probing = false;
      if (this.ws === ws) this.abandon(ws);
    }, HEARTBEAT_TIMEOUT_MS);
    this.request({ type: 'ping' }).then(
      () => {
        clearTimeout(timer);
        this.probing = false;
      },
      () => {
        clearTimeout(timer);
        this.probing = false;
      },
    );
  }

  /** Give up on a socket that stopped answering: a dead TCP connection may take minutes to close by itself. */
  abandon(ws) {
    this.ws = null;
    this.welcomed = false;
    clearTimeout(this.welcomeTimer);
    clearInterval(this.heartbeatTimer);
    try {
      ws.close(4998, 'no answer to ping');
    } catch {
      /* already closing */
    }
    this.dropped(1006, 'heartbeat');
  }

  open() {
    clearTimeout(this.retryTimer);
    this.welcomed = false;
    // A retry keeps showing "offline" until it succeeds, so the line does not flicker.
    if (this.attempt === 0) this.status('connecting', 'connection.connecting');
    else if (this.attempt > OFFLINE_AFTER_ATTEMPTS - 1 || navigator.onLine === false) this.status('offline', 'connection.offline');
    else this.status('reconnecting', 'connection.reconnecting');
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
      clearInterval(this.heartbeatTimer);
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
        this.status('online', 'connection.online');
        clearInterval(this.heartbeatTimer);
        this.heartbeatTimer = setInterval(() => this.probe(), this.opts.heartbeatMs || HEARTBEAT_EVERY_MS);
        for (const [req, entry] of this.pending) if (!entry.sent) this.transmit(req, entry);
        break;
      }
      case 'event': {
        if (typeof frame.seq !== 'number') return;
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // seen already
        this.lastSeq = frame.seq;
        this.opts.onEvent(frame.seq, frame.event, { replay: frame.seq <= this.replayUntil });
        if (frame.event && frame.event.kind === 'room_closed') this.stop('connection.close4009');
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
    if (FINAL_CLOSES.has(code)) {
      this.stop(`connection.close${code}`);
      this.status('closed', `connection.close${code}`, {}, code, reason);
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
    // A first failure is "reconnecting"; once a retry has failed too (or
    // the browser itself says the network is gone) we say so plainly.
    if (this.attempt > OFFLINE_AFTER_ATTEMPTS - 1 || navigator.onLine === false) {
      this.status('offline', 'connection.offline');
    } else {
      this.status('reconnecting', 'connection.retrying', { count: seconds });
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  status(state, key, params = {}, code, reason) {
    if (!this.opts.onStatus) return;
    this.opts.onStatus({ state, message: t(key, params), key, params, code, reason, attempt: this.attempt });
  }
}

/** Wire a status element (role=status) to a connection's state. */
export function statusReporter(el) {
  return ({ state, key, params }) => {
    el.dataset.state = state;
    setText(el, key, params);
    el.classList.toggle('quiet', state === 'online');
    // Pages style and word their pending messages by this.
    document.body.dataset.connection = state;
  };
}
