// ESLint over the UI (server/ui/*.js, ES modules beside the vendored Cytoscape, a classic
// script), the browser driver and the UI's unit tests; run from the repository root by
// tests/it/ui.rs.
import js from "@eslint/js";
import globals from "globals";

export default [
  // Vendored and installed code is others'.
  { ignores: ["server/ui/vendor/**", "tests/browser/node_modules/**"] },
  js.configs.recommended,
  {
    rules: {
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
      "no-shadow": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
    },
  },
  {
    files: ["server/ui/**/*.js"],
    languageOptions: {
      sourceType: "module",
      ecmaVersion: 2024,
      globals: { ...globals.browser, cytoscape: "readonly", cytoscapeFcose: "readonly" },
    },
  },
  {
    files: ["tests/browser/**/*.mjs"],
    languageOptions: {
      sourceType: "module",
      ecmaVersion: 2024,
      // Functions handed to page.evaluate run in the page, beside the UI's globals.
      globals: {
        ...globals.node,
        ...globals.browser,
        cy: "readonly",
        cytoscape: "readonly",
        cytoscapeFcose: "readonly",
      },
    },
  },
];
