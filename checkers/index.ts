/**
 * The built-in checkers, listed once. Each file in this folder (but this one) is one probe type
 * whose default export is its checker and whose `type` equals its file name; a test keeps this
 * list and the folder in step.
 */
import type { Checker } from '../src/health/contract.js';
import http from './http.js';
import mysql from './mysql.js';
import tcp from './tcp.js';

export const builtinCheckers: readonly Checker[] = [http, mysql, tcp] as readonly Checker[];
