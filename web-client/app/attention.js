// Attention, on both pages: the page title and the favicon carry the count
// of things waiting for the reader ("(2) Ombud console · Caucus" and a badge
// on the icon), and desktop notifications, only for a reader who opted in
// (the browser's permission is asked for at that moment, never before).
// A notification says only that something is waiting: never a name, a
// room title or a word of a message, since a screen may be seen by others.

import { setText } from './i18n.js';

const ICON = '/favicon.svg';
const COUNTED = /^\(\d+\+?\) /;

/** Show `count` in the title and the favicon; 0 takes both back to normal. */
export function showCount(count) {
  const base = document.title.replace(COUNTED, '');
  const label = count > 99 ? '99+' : String(count);
  document.title = count > 0 ? `(${label}) ${base}` : base;
  let link = document.querySelector('link[rel="icon"]');
  if (!link) {
    link = document.createElement('link');
    link.rel = 'icon';
    document.head.append(link);
  }
  link.dataset.count = String(count);
  link.type = 'image/svg+xml';
  link.href = count > 0 ? badgeIcon(label) : ICON;
}

/** The Caucus icon with a red count in its corner, as an SVG data URL (the CSP allows `data:` images). */
function badgeIcon(label) {
  const size = label.length > 1 ? 11 : 13;
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
    '<rect width="32" height="32" rx="7" fill="#1f5f8b"/>' +
    '<path d="M8 10h11a5 5 0 0 1 0 10h-3l-5 4v-4H8z" fill="#fff"/>' +
    '<circle cx="23" cy="9" r="9" fill="#c8102e"/>' +
    `<text x="23" y="13.5" font-family="sans-serif" font-size="${size}" font-weight="700" text-anchor="middle" fill="#fff">${label}</text>` +
    '</svg>';
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/**
 * Desktop notifications for one kind of reader (`key` names its choice in
 * localStorage: the console's and the party page's are kept apart).
 */
export function desktopAlerts(key) {
  const supported = typeof window.Notification === 'function';
  const on = () => supported && localStorage.getItem(key) === 'on' && Notification.permission === 'granted';
  return {
    supported,
    on,
    /** Ask the browser (only now, on the reader's click); 'granted', 'denied', 'default' or 'unsupported'. */
    async optIn() {
      if (!supported) return 'unsupported';
      const answer = await Notification.requestPermission();
      if (answer === 'granted') localStorage.setItem(key, 'on');
      return answer;
    },
    optOut() {
      localStorage.removeItem(key);
    },
    /** Show `body` (a sentence with nothing confidential in it), if the reader opted in. */
    notify(body, tag) {
      if (!on()) return;
      try {
        new Notification('Caucus', { body, tag });
      } catch {
        // Some browsers allow notifications only from a service worker: the title still counts.
      }
    },
  };
}

/**
 * A "desktop alerts" switch: a button whose label and `aria-pressed` say
 * whether alerts are on. `keys` are locale keys (`turnOn`, `turnOff`,
 * `denied`); `say([key])` reports a refusal.
 */
export function alertsToggle(button, alerts, keys, say) {
  const render = () => {
    const on = alerts.on();
    setText(button, on ? keys.turnOff : keys.turnOn);
    button.setAttribute('aria-pressed', String(on));
  };
  button.hidden = !alerts.supported;
  render();
  button.addEventListener('click', async () => {
    if (alerts.on()) {
      alerts.optOut();
    } else {
      const answer = await alerts.optIn();
      if (answer === 'denied') say([keys.denied]);
    }
    render();
  });
}
