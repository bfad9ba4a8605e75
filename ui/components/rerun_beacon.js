// ui/live.py: mounted inside a page's poller fragment; tells the page's listener that a whole-page run is wanted.
export default function (component) {
  const { data, parentElement } = component;
  const mark = parentElement.querySelector("span");  // parentElement may be a shadow root: mark its span
  if (mark) mark.dataset.vaeBeacon = data && data.token ? data.token : "";
  if (!data || !data.token) return;
  window.__vaeRerunToken = data.token;
  window.dispatchEvent(new CustomEvent("vae-page-rerun", { detail: data.token }));
}
