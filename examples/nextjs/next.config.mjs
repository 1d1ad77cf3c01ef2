import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  /* tokenwire is a native addon: load it with Node's require at run time, never bundle it. */
  serverExternalPackages: ['tokenwire'],
  /* Responses are streamed; gzip would buffer them. */
  compress: false,
  eslint: { ignoreDuringBuilds: true },
  /* This example lives inside the tokenwire repository, whose root holds the lockfile. */
  outputFileTracingRoot: path.join(here, '..', '..'),
};

export default nextConfig;
