/*
 * spawn.h - starts this test program again as a helper process (Windows):
 * spawn("child ROLE ...") runs the same .exe with those arguments, inheriting
 * handles and the environment. Returns the process handle, or NULL.
 */
#ifndef VMSHM_TEST_SPAWN_H
#define VMSHM_TEST_SPAWN_H

#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

static HANDLE spawn(const char *args)
{
	WCHAR exe[MAX_PATH], cmd[2 * MAX_PATH];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);

	if (n == 0 || n >= MAX_PATH)
		return NULL;
	swprintf(cmd, 2 * MAX_PATH, L"\"%ls\" %hs", exe, args);
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	if (!CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
		return NULL;
	CloseHandle(pi.hThread);
	return pi.hProcess;
}

#endif
