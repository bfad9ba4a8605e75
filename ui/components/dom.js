// DOM helpers shared by the components (concatenated before them by ui/components/latent_canvas.py).

// a new element of `tag` with class `cls`, appended to `parent` when given
function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}
