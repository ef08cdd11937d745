// Lint config. The widget sources (src/) must be ES3: they are parsed as ES3 and held to
// eslint-plugin-es-x's restrict-to-es3 rules, which also forbid ES5 built-ins (JSON,
// Array#forEach, Object.keys, Function#bind, String#trim, Date.now, ...). Only the JSON
// polyfill (src/json.js) may touch the global JSON, behind feature detection.
"use strict";

const esx = require("eslint-plugin-es-x");

const es3 = esx.configs["flat/restrict-to-es3"];

const nodeGlobals = {
  require: "readonly", module: "writable", process: "readonly", console: "readonly",
  __dirname: "readonly", __filename: "readonly", Buffer: "readonly", setTimeout: "readonly",
  clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly",
  URL: "readonly", AbortController: "readonly", fetch: "readonly"
};
// Functions that tests hand to page.evaluate run in the browser.
const pageGlobals = { window: "readonly", document: "readonly", Event: "readonly", kefu: "readonly" };

module.exports = [
  { ignores: ["node_modules/**"] },
  {
    files: ["src/**/*.js"],
    plugins: es3.plugins,
    languageOptions: {
      ecmaVersion: 3,
      sourceType: "script",
      globals: { window: "readonly" }
    },
    rules: {
      ...es3.rules,
      "es-x/no-json": "error",
      "no-undef": "error",
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "no-redeclare": "error",
      "no-dupe-keys": "error",
      "no-unreachable": "error",
      "no-implicit-globals": "error",
      "no-restricted-properties": ["error",
        { object: "document", property: "write", message: "never document.write into the host page" },
        { property: "JSON", message: "use ns.json (src/json.js): JSON may be missing or broken" }],
      "no-restricted-syntax": ["error",
        { selector: "MemberExpression[property.name='innerHTML']", message: "user text must never become HTML: use ns.el / ns.text" },
        { selector: "MemberExpression[property.name='outerHTML']", message: "user text must never become HTML" },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: "user text must never become HTML" },
        { selector: "CallExpression[callee.name='eval']", message: "no eval" }],
      eqeqeq: ["error", "always"]
    }
  },
  {
    // The demo page's own script: ES3 like the widget, with the page's globals.
    files: ["demo.js"],
    plugins: es3.plugins,
    languageOptions: { ecmaVersion: 3, sourceType: "script", globals: { window: "readonly", document: "readonly" } },
    rules: { ...es3.rules, "no-undef": "error", "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }], eqeqeq: ["error", "always"] }
  },
  {
    files: ["src/json.js"],
    rules: {
      "es-x/no-json": "off",
      "no-restricted-properties": ["error",
        { object: "document", property: "write", message: "never document.write into the host page" }]
    }
  },
  {
    files: ["eslint.config.js", "scripts/**/*.js", "test/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "commonjs", globals: { ...nodeGlobals, ...pageGlobals } },
    rules: { "no-undef": "error", "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }] }
  }
];
