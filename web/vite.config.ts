// Vite builds web/dist: index.html, app.js, app.css and favicon.svg, fixed
// names the shim serves (shim/ops.c) with its same-origin CSP; one script,
// no inline code, nothing loaded from elsewhere.
import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic', legalComments: 'none' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: false,
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: 'app.js',
        assetFileNames: 'app[extname]',
        inlineDynamicImports: true,
      },
    },
  },
});
