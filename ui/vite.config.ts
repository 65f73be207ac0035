// Vite builds ui/dist, which the Tauri shell embeds; Vitest runs the unit and browser tests.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Relative asset URLs work both under Tauri's custom protocol and a plain static server.
  base: './',
  clearScreen: false,
  // Tauri's dev mode expects a fixed port; the logo lives in ../icons beside the app icons.
  server: { port: 5173, strictPort: true, fs: { allow: ['..'] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK 2.40+ / WebView2 / Safari 16: all support ES2021.
    target: 'es2021',
    // Keep the logo a file (CSP img-src 'self'), not a data: URL.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'tests/**/*.test.ts'],
    environment: 'happy-dom',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
