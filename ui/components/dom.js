// DOM helpers shared by the components (concatenated before each component's own script: ui/components/*.py).

// a new element of `tag` with class `cls`, appended to `parent` when given
function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

// A component's entry point: one instance of `Cls` per element, made on the first mount and kept across reruns,
// given each run's data. The notice our HTML shows when no script runs is taken down; a throw is reported as the
// "failed" trigger, so Python can fall back to the server-drawn view with the message as its reason. `globalName`,
// when given, also puts the instance on window for the browser tests.
function mountOnce(component, Cls, slot, globalName) {
  const { data, parentElement, setTriggerValue } = component;
  for (const note of parentElement.querySelectorAll(".vc-noscript")) note.remove();
  try {
    let it = parentElement[slot];
    if (!it) {
      it = new Cls(parentElement);
      parentElement[slot] = it;
    }
    if (globalName) window[globalName] = it;
    it.update(data, setTriggerValue);
    return it;
  } catch (e) {
    setTriggerValue("failed", { message: String(e && e.message ? e.message : e) });
    return null;
  }
}

// This run's data of a component whose payload names parts (VaeOps.receive), or null while a part is missing. A part
// this page lacks may be on its way in another component's payload of the same run (the map canvas sends the
// decoder, and a payload that only names it is not sent again): look again for a moment, calling `it.update` with
// the next attempt, before asking the server, whose answer (the part again) may reach only that other component.
function receiveSoon(it, payload, setTrigger, attempt) {
  clearTimeout(it.retry);
  const { data, missing } = VaeOps.receive(payload);
  if (!missing.length) return data;
  if (attempt === 4) setTrigger("need_static", { keys: missing });
  if (attempt < 40) it.retry = setTimeout(() => it.update(payload, setTrigger, attempt + 1), 250);
  return null;
}
