// ui/owner.py: sets this browser's owner secret as a cookie (st.context.cookies is read-only), once per value.
export default function (component) {
  const { data } = component;
  if (!data || !data.name || !data.value) return;
  if (document.cookie.split("; ").includes(data.name + "=" + data.value)) return;
  document.cookie = data.name + "=" + encodeURIComponent(data.value) + "; Path=/; Max-Age=" + data.max_age
    + "; SameSite=Strict";
}
