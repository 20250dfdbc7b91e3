/**
 * The one place that loads @peculiar/x509. Its dependency injection (tsyringe) needs a Reflect
 * metadata polyfill installed before the library evaluates, and the library needs a WebCrypto
 * provider; ES module evaluation follows import order, so importing through this module is enough.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
