// ui/live.py: mounted by the main script; turns a beacon's token into one whole-page run.
// The listener keeps the newest setTriggerValue on window: a page switch mounts a new instance, and the one event
// handler (added once per document) must call the instance that is on screen now. It fires only once the app is idle
// (the poller's own run has ended) and only if, meanwhile, no other whole-page run came and the user did not leave:
// a trigger sent while a sidebar click is on its way would carry the old page and take the user back to it, and any
// whole-page run (a page switch, a click) already redraws the page in its new state, so the trigger is then moot.
export default function (component) {
  const { data, setTriggerValue } = component;
  window.__vaeRerunTrigger = setTriggerValue;
  window.__vaeRerunDone = window.__vaeRerunDone || new Set();
  window.__vaePageRuns = (window.__vaePageRuns || 0) + 1;  // this function runs once per whole-page run
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !app || app.getAttribute("data-test-script-state") === "notRunning";
  };
  const fire = (token) => {
    if (!token || window.__vaeRerunDone.has(token)) return;
    window.__vaeRerunDone.add(token);
    const path = window.location.pathname, runs = window.__vaePageRuns;
    const attempt = (n) => {
      if (window.location.pathname !== path || window.__vaePageRuns !== runs) return;
      if (idle() || n >= 300) window.__vaeRerunTrigger("rerun", token);
      else setTimeout(() => attempt(n + 1), 50);
    };
    attempt(0);
  };
  if (!window.__vaeRerunListening) {
    window.__vaeRerunListening = true;
    window.addEventListener("vae-page-rerun", (e) => fire(e.detail));
  }
  // a beacon that spoke before this page's listener was mounted is heard now
  if (data && data.pending && window.__vaeRerunToken === data.pending) fire(data.pending);
}
