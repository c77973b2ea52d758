/*
 * RtApi.h - the IntervalZero RtApi shared-memory calls on a vmshm pool.
 *
 * Existing RTX code that uses RtCreateSharedMemory, RtOpenSharedMemory,
 * RtCloseHandle and GetLastError compiles unchanged against this header and
 * links against libvmshm (Linux) or RtApi.dll (Windows). See RtApi(3) and
 * README.md for the exact semantics and error codes.
 */
#ifndef VMSHM_RTAPI_H
#define VMSHM_RTAPI_H

#ifdef _WIN32
#include <windows.h>
#ifdef VMSHM_BUILDING_DLL
#define RTAPI_EXPORT __declspec(dllexport)
#else
#define RTAPI_EXPORT __declspec(dllimport)
#endif
#else /* !_WIN32 */
#include <stdint.h>

#define RTAPI_EXPORT __attribute__((visibility("default")))
#define WINAPI

typedef void *HANDLE;
typedef uint32_t DWORD;
typedef int BOOL;
typedef unsigned char BOOLEAN;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef char CHAR;
typedef uint16_t WCHAR; /* one UTF-16 code unit, on every platform */
typedef void VOID;
typedef void *PVOID;
typedef void *LPVOID;
typedef CHAR *LPSTR;
typedef const CHAR *LPCSTR;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;

/* TEXT("name"): a char string, or with UNICODE a UTF-16 one, as on Windows. */
#ifndef TEXT
#ifdef UNICODE
#define TEXT(s) u##s
#else
#define TEXT(s) s
#endif
#endif

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

/* Win32 error codes that the calls set (GetLastError). */
#define ERROR_SUCCESS              0L
#define ERROR_FILE_NOT_FOUND       2L
#define ERROR_INVALID_HANDLE       6L
#define ERROR_NOT_ENOUGH_MEMORY    8L
#define ERROR_INVALID_PARAMETER    87L
#define ERROR_INVALID_NAME         123L
#define ERROR_BUSY                 170L
#define ERROR_ALREADY_EXISTS       183L
#define ERROR_FILENAME_EXCED_RANGE 206L
#define ERROR_TIMEOUT              1460L

#define PAGE_READONLY  0x02
#define PAGE_READWRITE 0x04

#ifdef __cplusplus
extern "C" {
#endif
/* Per thread, as on Windows. */
RTAPI_EXPORT DWORD GetLastError(void);
RTAPI_EXPORT void SetLastError(DWORD dwErrCode);
#ifdef __cplusplus
}
#endif
#endif /* _WIN32 */

/* Error codes that <windows.h> may lack in old SDKs. */
#ifndef ERROR_NO_SUCH_DEVICE
#define ERROR_NO_SUCH_DEVICE 433L
#endif
#ifndef ERROR_BAD_FORMAT
#define ERROR_BAD_FORMAT 11L
#endif
#ifndef ERROR_FILE_CORRUPT
#define ERROR_FILE_CORRUPT 1392L
#endif
#ifndef ERROR_OLD_WIN_VERSION
#define ERROR_OLD_WIN_VERSION 1150L
#endif

/* dwDesiredAccess of RtOpenSharedMemory; flProtect values of wRTOS. */
#define SHM_MAP_READ       1
#define SHM_MAP_WRITE      2
#define SHM_MAP_ALL_ACCESS 3

typedef struct _SHARED_MEMORY_INFO {
	DWORD flProtect; /* as given to RtCreateSharedMemory by the creator */
	DWORD dwSize;    /* the object's size in bytes, as created */
} SHARED_MEMORY_INFO, *PSHARED_MEMORY_INFO;

#define RtGetLastError GetLastError
#define RtSetLastError SetLastError

#ifdef __cplusplus
extern "C" {
#endif

RTAPI_EXPORT HANDLE WINAPI RtCreateSharedMemoryA(DWORD flProtect, DWORD MaximumSizeHigh,
						 DWORD MaximumSizeLow, LPCSTR lpName,
						 VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtCreateSharedMemoryW(DWORD flProtect, DWORD MaximumSizeHigh,
						 DWORD MaximumSizeLow, LPCWSTR lpName,
						 VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtOpenSharedMemoryA(DWORD dwDesiredAccess, BOOL bInheritHandle,
					       LPCSTR lpName, VOID **location);
RTAPI_EXPORT HANDLE WINAPI RtOpenSharedMemoryW(DWORD dwDesiredAccess, BOOL bInheritHandle,
					       LPCWSTR lpName, VOID **location);
RTAPI_EXPORT BOOL WINAPI RtCloseHandle(HANDLE hObject);
RTAPI_EXPORT BOOL WINAPI RtQuerySharedMemory(HANDLE hSharedMemory,
					     SHARED_MEMORY_INFO *pSharedMemoryInfo);

#ifdef __cplusplus
}
#endif

#ifdef UNICODE
#define RtCreateSharedMemory RtCreateSharedMemoryW
#define RtOpenSharedMemory   RtOpenSharedMemoryW
#else
#define RtCreateSharedMemory RtCreateSharedMemoryA
#define RtOpenSharedMemory   RtOpenSharedMemoryA
#endif

#endif /* VMSHM_RTAPI_H */
