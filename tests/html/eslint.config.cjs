'use strict';
// ESLint's flat config for the report page's script, src/report/page.js
// (html/lint.sh runs it): the recommended rules, for a classic script (not a
// module) that runs in a browser.
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'script',
      globals: { ...globals.browser },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
];
