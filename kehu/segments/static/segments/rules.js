// The rule builder offers, per row, only the comparisons the chosen field allows (options carry data-kinds).
function fitOperators(fieldSelect) {
  const row = fieldSelect.closest("tr");
  const opSelect = row && row.querySelector("select[name^=op_]");
  if (!opSelect) return;
  const chosen = fieldSelect.selectedOptions[0];
  const kind = chosen ? chosen.dataset.kind : "";
  let firstAllowed = null;
  for (const option of opSelect.options) {
    const allowed = !kind || (option.dataset.kinds || "").split(" ").includes(kind);
    option.hidden = option.disabled = !allowed;
    if (allowed && !firstAllowed) firstAllowed = option;
  }
  if (opSelect.selectedOptions[0] && opSelect.selectedOptions[0].disabled && firstAllowed) {
    opSelect.value = firstAllowed.value;
  }
}

document.addEventListener("change", (event) => {
  if (event.target.matches(".rule-rows select[name^=field_]")) fitOperators(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".rule-rows select[name^=field_]").forEach(fitOperators);
});
