// A form field that applies only to some choices of another: data-shown-when="name=value1,value2"
// hides it (and takes it out of the form) unless the control `name` holds one of the values.
(function () {
  "use strict";
  const dependents = document.querySelectorAll("[data-shown-when]");
  const update = () => {
    for (const el of dependents) {
      const [name, values] = el.dataset.shownWhen.split("=");
      const control = el.closest("form").elements[name];
      const shown = control !== undefined && values.split(",").includes(control.value);
      el.hidden = !shown;
      for (const input of el.querySelectorAll("input, select, textarea")) input.disabled = !shown;
      if (el.matches("input, select, textarea")) el.disabled = !shown;
    }
  };
  document.addEventListener("change", update);
  update();
})();
