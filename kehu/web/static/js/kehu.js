// Small behaviours on top of htmx. No framework, nothing from a CDN.

// Filter forms send only the filters that are set, so the pushed URL stays short and shareable.
document.addEventListener("htmx:configRequest", (event) => {
  if (!event.detail.elt.matches("form[data-drop-empty]")) return;
  for (const [key, value] of Object.entries(event.detail.parameters)) {
    if (value === "") delete event.detail.parameters[key];
  }
});

// A form with data-confirm asks first (no inline onsubmit: the Content-Security-Policy forbids them).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// The menu button of narrow screens shows and hides the sections.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".menu-button");
  if (!button) return;
  const open = button.closest(".topbar").classList.toggle("nav-open");
  button.setAttribute("aria-expanded", String(open));
});

// 已保存: a short toast when the server confirms a save made through htmx (HX-Trigger: kehu-saved).
document.addEventListener("kehu-saved", (event) => {
  const toast = document.createElement("div");
  toast.className = "toast";
  toast.setAttribute("role", "status");
  toast.textContent = event.detail.value;
  document.body.append(toast);
  setTimeout(() => toast.remove(), 2500);
});

// Filters that fold on a phone (details[data-open-wide]) start open on a wide screen: below 768 px the list
// comes first and the filters are one tap away.
function openWide() {
  if (!window.matchMedia("(min-width: 768px)").matches) return;
  for (const details of document.querySelectorAll("details[data-open-wide]")) details.open = true;
}
document.addEventListener("DOMContentLoaded", openWide);
