// Lint config. The console's own modules run in current browsers as they are (no build
// step): modern ECMAScript, ES modules, browser globals. User text must never become
// HTML, so innerHTML and its kin are refused. The tests run in Node (ES modules too);
// the functions they hand to page.evaluate run in the browser.
import js from "@eslint/js";
import globals from "globals";

const common = {
  ...js.configs.recommended.rules,
  "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
  eqeqeq: ["error", "always"],
};

export default [
  { ignores: ["node_modules/**"] },
  {
    files: ["**/*.js"],
    ignores: ["test/**", "eslint.config.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: { ...globals.browser } },
    rules: {
      ...common,
      "no-restricted-properties": ["error",
        { object: "document", property: "write", message: "never document.write" }],
      "no-restricted-syntax": ["error",
        { selector: "MemberExpression[property.name='innerHTML']", message: "user text must never become HTML: use h / add (render/dom.js) or textContent" },
        { selector: "MemberExpression[property.name='outerHTML']", message: "user text must never become HTML" },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "user text must never become HTML" },
        { selector: "CallExpression[callee.name='eval']", message: "no eval" }],
    },
  },
  {
    // Everything but main.js and render/ must load in Node, without a page: the unit
    // tests import it.
    files: ["*.js"],
    ignores: ["main.js", "eslint.config.js"],
    rules: {
      "no-restricted-globals": ["error", ...["document", "window", "location", "navigator", "requestAnimationFrame"].map((name) => ({
        name,
        message: "the page is render/'s and main.js's: this module must load in Node",
      }))],
    },
  },
  {
    files: ["test/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: { ...globals.node, ...globals.browser } },
    rules: common,
  },
];
