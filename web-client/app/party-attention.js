// The party page's attention: the title and favicon count the relays
// waiting for this party's consent, and an opt-in desktop alert says when a
// new one arrives. It reads the consent cards the page draws
// (`[data-testid="consent-card"][data-state="pending"]`), so the page's own
// code needs no change.

import { showCount, desktopAlerts, alertsToggle } from './attention.js';
import { t, onLanguageChange } from './i18n.js';
import { say } from './dom.js';

const KEYS = {
  turnOn: 'common.alerts.turnOn',
  turnOff: 'common.alerts.turnOff',
  denied: 'party.alerts.denied',
};

const alerts = desktopAlerts('caucus.party.notify');
let shown = null; // pending requests counted last time; null before the first count

function recount() {
  const pending = document.querySelectorAll('[data-testid="consent-card"][data-state="pending"]').length;
  if (pending === shown) return;
  // An alert only for a party looking elsewhere (another tab or window).
  const away = document.visibilityState !== 'visible' || !document.hasFocus();
  if (shown !== null && pending > shown && away) alerts.notify(t('party.alerts.consent'), 'caucus-consent');
  shown = pending;
  showCount(pending);
}

const button = document.createElement('button');
button.type = 'button';
button.className = 'link alerts-toggle';
button.dataset.testid = 'notify-toggle';
const status = document.createElement('p');
status.className = 'hint';
status.setAttribute('role', 'status');
const header = document.querySelector('.topbar');
if (header) header.append(button, status);
alertsToggle(button, alerts, KEYS, (message) => say(status, message));
// A new language puts the count back in the translated title.
onLanguageChange(() => showCount(shown || 0));

new MutationObserver(recount).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
recount();
